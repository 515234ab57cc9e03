// The one SQL lexer, read the way each engine reads its text (no database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sqlTokens } from '../../src/scenario/sql-lexer.js';
import { parseParams } from '../../src/scenario/params.js';

const kinds = (sql: string, engine: 'postgres' | 'mysql') =>
  sqlTokens(sql, engine).map((t) => (t.kind === 'word' || t.kind === 'symbol' ? t.text : t.kind === 'param' ? `:${t.name}` : t.kind));

test('references, casts, strings, quoted names and comments', () => {
  assert.deepEqual(kinds('SELECT :a::int, \':b\', "c" -- :d\n/* :e */ $x$ :f $x$', 'postgres'), [
    'SELECT',
    ':a',
    '::',
    'int',
    ',',
    'string',
    ',',
    'quoted-name',
    'comment',
    'comment',
    'string',
  ]);
  assert.deepEqual(kinds('SELECT :a, ":b", `c` # :d\n', 'mysql'), ['SELECT', ':a', ',', 'string', ',', 'quoted-name', 'comment']);
});

test("backslashes: MySQL escapes in every string, PostgreSQL only in E'…'", () => {
  assert.deepEqual(parseParams("SELECT 'C:\\' , :x", 'postgres').names, ['x']);
  assert.deepEqual(parseParams("SELECT 'it\\'s :not', :x", 'mysql').names, ['x']);
  assert.deepEqual(parseParams("SELECT E'it\\'s :not', :x", 'postgres').names, ['x']);
});

test('MySQL needs a space after -- for a comment; PostgreSQL does not', () => {
  assert.deepEqual(parseParams('SELECT 1--:x', 'mysql').names, ['x']);
  assert.deepEqual(parseParams('SELECT 1--:x', 'postgres').names, []);
});

test('a reference becomes the placeholder, the text around it is kept', () => {
  assert.equal(
    parseParams('UPDATE t SET v = :v WHERE id = :id -- :id', 'postgres').render((n) => `$${n}`),
    'UPDATE t SET v = $1 WHERE id = $2 -- :id',
  );
});
