// Passwords never appear in output: URL redaction, URL scrubbing of free text, secrets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl, registerSecret, scrub, scrubUrls } from '../../src/util/redact.js';
import { BadDatabaseUrl } from '../../src/errors.js';

test('redactUrl hides the userinfo password, keeping the rest as written', () => {
  assert.equal(redactUrl('postgres://app:s3cr3t@127.0.0.1:5432/db'), 'postgres://app:***@127.0.0.1:5432/db');
  assert.equal(redactUrl('mysql://root@127.0.0.1:3306/test'), 'mysql://root@127.0.0.1:3306/test');
  assert.equal(redactUrl('postgres://postgres@127.0.0.1:5432/postgres'), 'postgres://postgres@127.0.0.1:5432/postgres');
});

test('redactUrl hides password= and sslpassword= query parameters', () => {
  assert.equal(redactUrl('postgres://u@h/db?password=s3cr3t'), 'postgres://u@h/db?password=***');
  assert.equal(
    redactUrl('postgres://u@h/db?sslmode=require&sslpassword=s3cr3t&x=1'),
    'postgres://u@h/db?sslmode=require&sslpassword=***&x=1',
  );
  assert.equal(redactUrl('postgres://u:s3cr3t@h/db?PASSWORD=s3cr3t#f'), 'postgres://u:***@h/db?PASSWORD=***#f');
});

test('redactUrl hides up to the last @: passwords with @, / and : (unparseable URLs too)', () => {
  for (const url of [
    'postgres://u:p@ss@h/db', // parses: password p%40ss
    'postgres://u:pa/ss@h/db', // does not parse ("pa" is no port)
    'postgres://u:a:b/c@d@h:1/db',
    'postgres://u:12/ss@h/db', // parses, wrongly: host u, port 12, path /ss@h/db
    'postgres://u:pw#x@h/db',
  ]) {
    const r = redactUrl(url);
    assert.match(r, /^postgres:\/\/u:\*\*\*@h(:1)?\/db$/, `${url} → ${r}`);
  }
});

test('redacting twice changes nothing', () => {
  for (const url of ['postgres://u:s@h/x?password=p', 'postgres://u:s@h:1/x?password=p']) {
    assert.equal(redactUrl(redactUrl(url)), redactUrl(url));
    assert.equal(scrubUrls(`cannot connect to ${redactUrl(url)}: refused`), `cannot connect to ${redactUrl(url)}: refused`);
  }
});

test('scrubUrls hides the password of every URL in a text, and leaves other text alone', () => {
  const text = `error: unknown option '--frobnicate=postgres://u:s3cr3t@127.0.0.1:1/x?password=s3cr3t' and mysql://root:pw2@h/db.`;
  const out = scrubUrls(text);
  assert.doesNotMatch(out, /s3cr3t|pw2/);
  assert.equal(out, `error: unknown option '--frobnicate=postgres://u:***@127.0.0.1:1/x?password=***' and mysql://root:***@h/db.`);
  const plain = 'SELECT 1; see https://example.com/a?b=c — user@example.com, 10:30';
  assert.equal(scrubUrls(plain), plain);
});

test('scrubUrls keeps JSON valid: a match never runs past the end of a string', () => {
  const doc = JSON.stringify({ a: 'postgres://u:pw@h/x', b: 'someone@example.com', c: 'x?password=not-a-url' });
  const out = scrubUrls(doc);
  assert.deepEqual(JSON.parse(out), { a: 'postgres://u:***@h/x', b: 'someone@example.com', c: 'x?password=not-a-url' });
});

test('registerSecret: a URL password is hidden as written and decoded; a bad %-escape is BadDatabaseUrl', () => {
  registerSecret('p%40ss%2Fw0rd-9Zq', { urlEncoded: true });
  assert.equal(
    scrub('a postgres://h/x?application_name=p@ss/w0rd-9Zq b mysql://h/db?x=p%40ss%2Fw0rd-9Zq c'),
    'a postgres://h/x?application_name=*** b mysql://h/db?x=*** c',
  );
  assert.throws(
    () => registerSecret('%zz', { urlEncoded: true }),
    (e) => e instanceof BadDatabaseUrl && !/%zz/.test(e.message),
  );
});

test('scrub hides a secret only where a password can appear: URLs and password= settings', () => {
  registerSecret('account');
  assert.equal(
    scrub('42P01 relation "account" does not exist; postgres://app:account@h/db; host=h password=account user=app'),
    '42P01 relation "account" does not exist; postgres://app:***@h/db; host=h password=*** user=app',
  );
  assert.equal(scrub("password = 'it\\'s account' x"), 'password = *** x'); // libpq quoting
});

test('masking takes time linear in the text: a 100 kB word, a 10 MB story, many URLs', () => {
  // Quadratic masking took 12 s on the 100 kB word and 636 s on the 10 MB story; linear takes 0 ms
  // and about 1.5 s here. The bounds are far from both, so only quadratic behaviour fails them.
  const word = 'a'.repeat(100_000);
  const story = 'Once upon a time postgres://u:pw@h/db said: account-balance+1.2 (see x://) '.repeat(140_000);
  const urls = 'http://'.repeat(1_000_000);
  for (const [what, text] of [
    ['100 kB word', word],
    ['10 MB story', story],
    ['7 MB of schemes', urls],
    ['10 MB of letters then ://', `${'b'.repeat(10_000_000)}://x`],
  ] as const) {
    const t = performance.now();
    const out = scrub(scrubUrls(text));
    const ms = performance.now() - t;
    assert.ok(ms < (text.length > 1e6 ? 30_000 : 2_000), `${what}: ${Math.round(ms)} ms`);
    console.log(`${what}: ${Math.round(ms)} ms`);
    if (what === '10 MB story') assert.doesNotMatch(out, /:pw@/);
    if (what === '100 kB word') assert.equal(out, word);
  }
});
