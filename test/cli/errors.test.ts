// The built binary on the unhappy paths: passwords never printed, one line per problem, no stack
// traces, honest exit codes (2 usage, 3 database, 1 not met, 130 interrupted or stdout closed).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import path from 'node:path';
import { AUTHORING_CASES, FILE_CASES, messageFor, withFix, withSetup, writeSqlFiles } from '../helpers/bad-inputs.js';
import { BIN, lockrepro, noStack, scratchFolder } from '../helpers/cli.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const external = await pgGate();
const maria = await mysqlGate();
const file = scratchFolder();

/** Nothing listens on port 1: connecting fails at once. */
const SECRET_URL = 'postgres://u:s3cr3t@127.0.0.1:1/x?password=s3cr3t';

const oneLine = (r: { stderr: string }) => assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);

describe('passwords never appear in output', () => {
  test('a missing scenario, an unreachable server, a bad flag and a URL as a target', () => {
    for (const [args, code] of [
      [['run', 'nope', '--db', SECRET_URL], 2],
      [['run', 'ab-ba-deadlock', '--db', SECRET_URL], 3],
      [['run', 'ab-ba-deadlock', `--frobnicate=${SECRET_URL}`], 2],
      [['run', 'ab-ba-deadlock', '--db', 'postgres://u:s3cr3t/with:colon@127.0.0.1:1/x'], 2], // not a URL to the parser
      [['run', SECRET_URL], 2],
      [['check', SECRET_URL], 2],
    ] as const) {
      const r = lockrepro([...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      oneLine(r);
      noStack(r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /s3cr3t/, args.join(' '));
    }
  });

  test('LOCKREPRO_DB with only a password parameter', () => {
    const r = lockrepro(['run', 'ab-ba-deadlock'], { LOCKREPRO_DB: 'postgres://u@127.0.0.1:1/x?password=s3cr3t' });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /password=\*\*\*/);
    assert.doesNotMatch(r.stdout + r.stderr, /s3cr3t/);
  });

  test('a bad %-escape in a --db password is bad usage: exit 2, one line, the password not shown', () => {
    for (const url of [
      'postgres://u:%zz@127.0.0.1/x',
      'postgresql://u:ab%zzcd@127.0.0.1/x',
      'mysql://u:%zz@127.0.0.1/x',
      'mariadb://u:ab%zzcd@127.0.0.1/x',
      'mysql://u%zz@127.0.0.1/x',
    ]) {
      const r = lockrepro(['run', 'ab-ba-deadlock', '--db', url]);
      assert.equal(r.code, 2, `${url}: ${r.stderr}`);
      oneLine(r);
      noStack(r.stderr);
      assert.match(r.stderr, /%-escape/);
      assert.doesNotMatch(r.stderr, /ab%zzcd|:%zz@/);
    }
  });
});

describe('one-line usage errors (exit 2)', () => {
  test('a target below a file (ENOTDIR) names the path', () => {
    for (const cmd of ['check', 'run', 'show']) {
      const r = lockrepro([cmd, 'README.md/x']);
      assert.equal(r.code, 2, r.stderr);
      oneLine(r);
      noStack(r.stderr);
      assert.match(r.stderr, /^README\.md\/x: /);
    }
  });

  test('a FIFO or /dev/zero as a target is "not a regular file", at once (no read that never ends)', () => {
    const fifo = file('pipe.yaml', '').replace(/pipe\.yaml$/, 'fifo.yaml');
    spawnSync('mkfifo', [fifo]);
    for (const target of [fifo, '/dev/zero']) {
      for (const cmd of ['check', 'run', 'show']) {
        const r = lockrepro([cmd, target]);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stderr.trim(), `${target}: not a regular file (a scenario is a .yaml file or a folder of them)`);
      }
    }
  });

  test('a "billion laughs" file is reported as too many aliases, not as "must be a YAML mapping"', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 7; i++) {
      const prev = String.fromCharCode(96 + i);
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const f = file('laughs.yaml', `${levels.join('\n')}\n`);
    const r = lockrepro(['check', f]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), `${f}:1: YAML: aliases expand too far (more than 100 per node: a "billion laughs" file?)`);
  });

  test('every bad schema-file and authoring input: exit 2 and its one exact line, through the binary', () => {
    const files = scratchFolder();
    writeSqlFiles(files);
    const cases = [
      ...FILE_CASES.map(([setup, message]) => [withSetup(setup), message] as const),
      ...AUTHORING_CASES.map(([fix, message, step]) => [withFix(fix, step), message] as const),
    ];
    for (const [i, [yaml, message]] of cases.entries()) {
      const f = files(`case-${i}.yaml`, yaml);
      const r = lockrepro(['check', f]);
      assert.equal(r.code, 2, `${yaml}\n${r.stderr}`);
      assert.equal(r.stderr.trim(), messageFor(message, f, `${path.dirname(f)}/`), yaml);
    }
  });

  test('--step-timeout takes a positive whole number of milliseconds', () => {
    for (const v of ['abc', '0', '-5', '1.5', '99999999999']) {
      const r = lockrepro(['run', 'ab-ba-deadlock', '--step-timeout', v]);
      assert.equal(r.code, 2, `${v}: ${r.stderr}`);
      oneLine(r);
      assert.match(r.stderr, /--step-timeout/);
    }
  });

  test('--junit into a missing folder or onto a folder fails before any database work', () => {
    // The database is unreachable: checked after connecting, this would be exit 3.
    for (const [target, why] of [
      ['/nonexistent-lockrepro-dir/report.xml', /folder \/nonexistent-lockrepro-dir does not exist/],
      [process.cwd(), /is a folder/],
      ['README.md/report.xml', /README\.md is not a folder/],
    ] as const) {
      const r = lockrepro(['run', 'ab-ba-deadlock', '--db', 'postgres://u@127.0.0.1:1/x', '--junit', target]);
      assert.equal(r.code, 2, r.stderr);
      oneLine(r);
      assert.match(r.stderr, new RegExp(`^lockrepro: --junit ${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
      assert.match(r.stderr, why);
    }
  });
});

/** Spawn lockrepro with stdout piped; `close` decides when the reader goes away. */
async function withReaderGone(args: string[], close: 'before-start' | 'after-first-chunk') {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NO_COLOR: '1', LOCKREPRO_DB: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  let first = '';
  if (close === 'before-start') child.stdout.destroy();
  else {
    child.stdout.once('data', (d: Buffer) => {
      first = d.toString();
      child.stdout.destroy();
    });
  }
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stderr, first };
}

describe('stdout closed early (lockrepro … | head -1)', () => {
  test('list and run leave quietly with 130, no stack trace', async () => {
    for (const args of [['list'], ['show', 'ab-ba-deadlock'], ['run', 'ab-ba-deadlock', '--db', 'postgres://u@127.0.0.1:1/x']]) {
      const r = await withReaderGone(args, 'before-start');
      // An unreachable database is found before anything is printed on stdout: exit 3, one line.
      const expected = args[0] === 'run' ? 3 : 130;
      assert.equal(r.code, expected, `${args.join(' ')}: ${r.stderr}`);
      noStack(r.stderr);
      assert.doesNotMatch(r.stderr, /EPIPE|internal error/);
    }
  });

  test('a run on PostgreSQL stops, drops its scratch database and exits 130', { skip: external.skip }, async () => {
    external.require();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      for (const close of ['before-start', 'after-first-chunk'] as const) {
        // A name of this test process's own, so another run against the same server is not counted.
        const name = `epipe-${close}-${process.pid}`;
        const src = readFileSync('scenarios/ab-ba-deadlock.yaml', 'utf8').replace('name: ab-ba-deadlock', `name: ${name}`);
        const r = await withReaderGone(['run', file(`${name}.yaml`, src), '--db', PG_URL], close);
        assert.equal(r.code, 130, `${close}: ${r.stderr}`);
        assert.equal(r.stderr, '', `${close}: quiet`);
        if (close === 'after-first-chunk') assert.match(r.first, /^database: postgres/);
        const prefix = `lockrepro_${name.replace(/-/g, '_')}_`.replace(/_/g, '\\_');
        const left = await c.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}%`]);
        assert.deepEqual(left.rows, [], `${close}: scratch databases dropped`);
      }
    } finally {
      await c.end();
    }
  });
});

const CLEAN_BUT_EXPECTS_DEADLOCK = `name: no-repro
title: Two transactions that never meet
story: Each updates its own row, so there is no deadlock, whatever the scenario expects.
setup:
  - CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL)
  - INSERT INTO account VALUES (1, 100), (2, 100)
workers:
  alice:
    - { name: begin, sql: BEGIN }
    - { name: write, sql: "UPDATE account SET balance = 0 WHERE id = 1" }
    - { name: commit, sql: COMMIT }
  bob:
    - { name: begin, sql: BEGIN }
    - { name: write, sql: "UPDATE account SET balance = 0 WHERE id = 2" }
    - { name: commit, sql: COMMIT }
expect: deadlock
`;

describe('verdicts on PostgreSQL 15 (CI server)', { skip: external.skip }, () => {
  test('a bug that does not reproduce: exit 1, the variant not met', () => {
    external.require();
    const f = file('no-repro.yaml', CLEAN_BUT_EXPECTS_DEADLOCK);
    const t = lockrepro(['run', f, '--db', PG_URL]);
    assert.equal(t.code, 1, t.stderr);
    assert.match(t.stdout, /saw clean; expected deadlock {2}✗ the bug did not reproduce/);
    const j = lockrepro(['run', f, '--db', PG_URL, '--json']);
    assert.equal(j.code, 1, j.stderr);
    const doc = JSON.parse(j.stdout);
    assert.equal(doc.ok, false);
    const [bug] = doc.scenarios[0].variants;
    assert.deepEqual([bug.name, bug.expected, bug.observed, bug.met], ['bug', 'deadlock', 'clean', false]);
  });

  test('a password that is an ordinary word or a digit is hidden in the URL and damages nothing else', () => {
    external.require();
    // The CI server trusts local connections, so any password is accepted.
    for (const password of ['postgres', '1']) {
      const url = PG_URL.replace('postgres://postgres@', `postgres://postgres:${password}@`);
      const j = lockrepro(['run', 'ab-ba-deadlock', '--variant', 'bug', '--db', url, '--json']);
      assert.equal(j.code, 0, j.stderr);
      const doc = JSON.parse(j.stdout); // still valid JSON
      assert.equal(doc.lockrepro, 1);
      assert.equal(doc.database.dialect, 'postgres');
      const t = lockrepro(['run', 'ab-ba-deadlock', '--variant', 'bug', '--db', url, '--verbose']);
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, /bob is the deadlock victim/);
      assert.match(t.stdout, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/, 'the URL is shown with its password hidden');
      assert.doesNotMatch(t.stdout, new RegExp(`postgres:${password}@`));
    }
  });

  test('--variant nosuch is bad usage (exit 2), naming the variant', () => {
    external.require();
    const r = lockrepro(['run', 'ab-ba-deadlock', '--variant', 'nosuch', '--db', PG_URL]);
    assert.equal(r.code, 2, r.stderr);
    oneLine(r);
    assert.match(r.stderr, /has no variant "nosuch"/);
  });

  test('every scenario skipped (engines: [mysql] on PostgreSQL): exit 1, "nothing ran", skipped in JSON and JUnit', () => {
    external.require();
    const f = file('mysql-only.yaml', CLEAN_BUT_EXPECTS_DEADLOCK.replace('name: no-repro', 'name: mysql-only\nengines: [mysql]'));
    const junit = file('skipped.xml', '');
    const r = lockrepro(['run', f, '--db', PG_URL, '--json', '--junit', junit]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /skipped: mysql-only supports mysql, not postgres/);
    assert.match(r.stderr, /^lockrepro: nothing ran: mysql-only skipped on postgres$/m);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.scenarios, []);
    assert.deepEqual(doc.skipped, [{ name: 'mysql-only', file: f, reason: 'mysql-only supports mysql, not postgres' }]);
    const xml = readFileSync(junit, 'utf8');
    assert.match(xml, /<skipped message="mysql-only supports mysql, not postgres"\/>/);
    // The report fails like the exit code.
    assert.match(xml, /<testsuites name="lockrepro" tests="2" failures="1" errors="0" skipped="1">/);
    assert.match(
      xml,
      /<testcase classname="lockrepro\.postgres" name="nothing ran" time="0\.000"><failure message="nothing ran: mysql-only skipped on postgres \(mysql-only supports mysql, not postgres\)" type="nothing-ran">/,
    );
  });

  test('a run that ran something lists skipped scenarios too and still passes', () => {
    external.require();
    const f = file('pg-skip.yaml', CLEAN_BUT_EXPECTS_DEADLOCK.replace('name: no-repro', 'name: maria-only\nengines: [mariadb]'));
    const r = lockrepro(['run', 'ab-ba-deadlock', f, '--db', PG_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, true);
    assert.deepEqual(
      doc.skipped.map((s: { name: string }) => s.name),
      ['maria-only'],
    );
  });
});

/** No `engines:`, and the lock step has SQL for PostgreSQL only: it runs there and nowhere else. */
const PG_SQL_ONLY = `name: pg-sql-only
title: A step with PostgreSQL SQL only
story: The scenario declares no engines; its SQL covers PostgreSQL.
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: lock, sql: { postgres: SELECT pg_advisory_xact_lock(1) } }
    - { name: commit, sql: COMMIT }
expect: clean
`;

describe('engines its SQL covers (no engines: declared)', () => {
  test('on embedded PostgreSQL a scenario with MySQL-only SQL is skipped, naming the place: exit 1, nothing ran, JSON and JUnit say why', () => {
    const f = file(
      'my-sql-only.yaml',
      PG_SQL_ONLY.replace('name: pg-sql-only', 'name: my-sql-only').replace(
        '{ postgres: SELECT pg_advisory_xact_lock(1) }',
        '{ mysql: SELECT 1 }',
      ),
    );
    const junit = file('my-sql-only.xml', '');
    const r = lockrepro(['run', f, '--json', '--junit', junit]);
    assert.equal(r.code, 1, r.stderr);
    const reason = 'my-sql-only has no SQL for postgres (step a.lock, line 7)';
    assert.ok(r.stderr.includes(`skipped: ${reason}`), r.stderr);
    assert.match(r.stderr, /^lockrepro: nothing ran: my-sql-only skipped on postgres$/m);
    assert.doesNotMatch(r.stderr, /:7: step a\.lock has no SQL/);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.scenarios, []);
    assert.deepEqual(doc.skipped, [{ name: 'my-sql-only', file: f, reason }]);
    const xml = readFileSync(junit, 'utf8');
    assert.match(xml, /<testsuites name="lockrepro" tests="2" failures="1" errors="0" skipped="1">/);
    assert.match(xml, /name="nothing ran" time="0\.000"><failure message="nothing ran: my-sql-only skipped on postgres/);
  });

  test('with engines: declared, SQL missing for a declared engine is a check problem on every command, exit 2', () => {
    const f = file('declared.yaml', PG_SQL_ONLY.replace('name: pg-sql-only', 'name: declared\nengines: [postgres, mysql, mariadb]'));
    for (const cmd of ['check', 'run']) {
      const r = lockrepro([cmd, f]);
      assert.equal(r.code, 2, r.stderr);
      assert.deepEqual(r.stderr.trim().split('\n'), [
        `${f}:8: step a.lock has no SQL for mysql`,
        `${f}:8: step a.lock has no SQL for mariadb`,
      ]);
    }
    const pgOnly = lockrepro([
      'check',
      file('declared-pg.yaml', PG_SQL_ONLY.replace('name: pg-sql-only', 'name: declared-pg\nengines: [postgres]')),
    ]);
    assert.equal(pgOnly.code, 0, pgOnly.stderr);
  });
});

describe('engines on MariaDB (CI server)', { skip: maria.skip }, () => {
  test('no engines: and a step with PostgreSQL SQL only: skipped on MariaDB with the place, the others run', () => {
    maria.require();
    const f = file('pg-sql-only.yaml', PG_SQL_ONLY);
    const alone = lockrepro(['run', f, '--db', MYSQL_URL, '--json']);
    assert.equal(alone.code, 1, alone.stderr);
    assert.match(alone.stderr, /skipped: pg-sql-only has no SQL for mariadb \(step a\.lock, line 7\)/);
    assert.match(alone.stderr, /^lockrepro: nothing ran: pg-sql-only skipped on mariadb$/m);
    assert.deepEqual(JSON.parse(alone.stdout).skipped, [
      { name: 'pg-sql-only', file: f, reason: 'pg-sql-only has no SQL for mariadb (step a.lock, line 7)' },
    ]);
    const mixed = lockrepro(['run', 'ab-ba-deadlock', f, '--variant', 'bug', '--db', MYSQL_URL, '--json']);
    assert.equal(mixed.code, 0, mixed.stderr);
    const doc = JSON.parse(mixed.stdout);
    assert.equal(doc.ok, true);
    assert.deepEqual(
      doc.scenarios.map((s: { name: string }) => s.name),
      ['ab-ba-deadlock'],
    );
    assert.deepEqual(
      doc.skipped.map((s: { name: string }) => s.name),
      ['pg-sql-only'],
    );
  });

  test('engines: [mysql] runs on MariaDB', () => {
    maria.require();
    const src = readFileSync('scenarios/ab-ba-deadlock.yaml', 'utf8')
      .replace('name: ab-ba-deadlock', 'name: mysql-family')
      .replace('engines: [postgres, mysql]', 'engines: [mysql]');
    assert.match(src, /^engines: \[mysql\]$/m);
    const r = lockrepro(['run', file('mysql-family.yaml', src), '--db', MYSQL_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.scenarios[0].name, 'mysql-family');
    assert.deepEqual(doc.skipped, []);
  });
});
