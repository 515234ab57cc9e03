// `{ file: … }` setup entries: statements split as psql and the mysql client split them, and every
// unreadable or unsplittable file one line naming the place (issue #9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { scratchFolder } from '../helpers/cli.js';
import { checkScenario } from '../../src/scenario/check.js';
import { parseScenarioText } from '../../src/scenario/parse.js';
import { planScenario } from '../../src/plan/plan.js';
import { splitStatements } from '../../src/scenario/sql-lexer.js';

const split = (text: string, engine: 'postgres' | 'mysql') => {
  const r = splitStatements(text, engine);
  return 'problem' in r ? `${r.problem.line}: ${r.problem.message}` : r.statements.map((s) => `${s.line}: ${s.sql}`);
};

test('PostgreSQL: quotes, comments, dollar quotes, E strings and parentheses hide the semicolon', () => {
  const text = `-- migration
CREATE TABLE t (id int, note text DEFAULT 'a;b');
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$
BEGIN RETURN 1; END $fn$;
/* c; */ SELECT E'it\\'s;', $$x;y$$, "we;ird";
CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);
SELECT 1`;
  assert.deepEqual(split(text, 'postgres'), [
    "2: CREATE TABLE t (id int, note text DEFAULT 'a;b')",
    '3: CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$\nBEGIN RETURN 1; END $fn$',
    `5: SELECT E'it\\'s;', $$x;y$$, "we;ird"`,
    '6: CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2)',
    '7: SELECT 1',
  ]);
});

test('MySQL: backslash escapes, # comments, "…" strings and DELIMITER blocks (not sent)', () => {
  const text = `CREATE TABLE t (id int, note varchar(9) DEFAULT 'a\\';b'); # c;
DELIMITER //
CREATE PROCEDURE p() BEGIN SELECT 1; SELECT "x;"; END//
DELIMITER ;
/*!40101 SET NAMES utf8mb4 */;
delimiter $$
CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.id = NEW.id + 1; END$$
DELIMITER ;
INSERT INTO t VALUES (1, 'x')`;
  assert.deepEqual(split(text, 'mysql'), [
    "1: CREATE TABLE t (id int, note varchar(9) DEFAULT 'a\\';b')",
    '3: CREATE PROCEDURE p() BEGIN SELECT 1; SELECT "x;"; END',
    '5: /*!40101 SET NAMES utf8mb4 */',
    '7: CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.id = NEW.id + 1; END',
    "9: INSERT INTO t VALUES (1, 'x')",
  ]);
});

test('what cannot be split is named with its line', () => {
  assert.equal(split("SELECT 1;\nSELECT 'x", 'postgres'), "2: unterminated '…' string");
  assert.equal(split('SELECT 1;\n\nSELECT $body$ x;', 'postgres'), '3: unterminated dollar quote $body$');
  assert.equal(split('SELECT 1; /* open', 'mysql'), '1: unterminated /* comment');
  assert.equal(split('SELECT `x', 'mysql'), '1: unterminated `…` quoted name');
  assert.equal(split('SELECT "x', 'postgres'), '1: unterminated "…" quoted name');
  assert.deepEqual(split("SELECT 'it\\'s", 'postgres'), ["1: SELECT 'it\\'s"]); // a backslash is no escape here
  assert.equal(split("SELECT 'it\\'s", 'mysql'), "1: unterminated '…' string");
  assert.equal(split('-- only a comment\n', 'postgres'), '1: has no SQL statement');
  assert.equal(split('DELIMITER\nSELECT 1', 'mysql'), '1: DELIMITER needs the new delimiter on the same line');
});

const write = scratchFolder();
const SCENARIO = (setup: string) => `name: files
title: t
story: s
setup:
${setup}
workers:
  a:
    - { name: begin, sql: BEGIN }
expect: clean
`;
const problems = (setup: string) => {
  const file = write('s.yaml', SCENARIO(setup));
  const dir = path.dirname(file);
  return checkScenario(parseScenarioText('s.yaml', SCENARIO(setup)), dir).problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
};

test('bad file entries: one line each, at the entry (unreadable) or at the line in the file (unsplittable)', () => {
  const dir = path.dirname(write('ok.sql', 'SELECT 1;'));
  write('unterminated.sql', "SELECT 1;\nSELECT 'x\n");
  write('dollar.sql', 'SELECT $f$ x;\n');
  write('empty.sql', '-- nothing\n');
  write('shared.sql', "SELECT $$ it's $$;\n");
  mkdirSync(path.join(dir, 'folder'), { recursive: true });
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  const cases: [string, string][] = [
    ['  - file: nope.sql', 's.yaml:5: setup[0]: file nope.sql: no such file'],
    ['  - file: folder', 's.yaml:5: setup[0]: file folder: is a folder, not a file'],
    ['  - file: fifo', 's.yaml:5: setup[0]: file fifo: not a regular file'],
    ['  - file: /dev/zero', 's.yaml:5: setup[0]: file /dev/zero: not a regular file'],
    ['  - file: ""', 's.yaml:5: setup[0].file: a file path must not be empty'],
    ['  - file: 3', 's.yaml:5: setup[0].file: 3 is not allowed here (expected string or object)'],
    ['  - { file: ok.sql, sql: SELECT 2 }', 's.yaml:5: setup[0]: unknown key "sql"'],
    ['  - file: { postgres: ok.sql, sqlite: ok.sql }', 's.yaml:5: setup[0].file: unknown key "sqlite"'],
    ['  - file: { postgres: nope.sql }', 's.yaml:5: setup[0]: file nope.sql: no such file'],
    ['  - file: unterminated.sql', "unterminated.sql:2: unterminated '…' string (setup[0] at s.yaml:5)"],
    ['  - file: { postgres: dollar.sql }', 'dollar.sql:1: unterminated dollar quote $f$ (setup[0] at s.yaml:5)'],
    ['  - file: empty.sql', 'empty.sql:1: has no SQL statement (setup[0] at s.yaml:5)'],
    // One file for every engine: a dollar quote means nothing to MySQL, whose reading fails.
    ['  - file: shared.sql', "shared.sql:1: unterminated '…' string (setup[0] at s.yaml:5, read as mysql and mariadb SQL)"],
  ];
  for (const [setup, message] of cases) assert.deepEqual(problems(setup), [message], setup);
});

test('a file entry plans as its statements, each with its file and line; a fix and teardown take files too', () => {
  write('schema.sql', 'CREATE TABLE t (id int);\n\nINSERT INTO t VALUES (1);\n');
  const yaml = `${SCENARIO('  - file: schema.sql\n  - SELECT 1')}teardown:\n  - file: { postgres: schema.sql }\nfixes:\n  f:\n    setup: [{ file: schema.sql }]\n`;
  const file = write('plan.yaml', yaml);
  const r = checkScenario(parseScenarioText('plan.yaml', yaml), path.dirname(file));
  assert.deepEqual(r.problems, []);
  const planned = planScenario(r.scenario!, { engine: 'postgres', placeholder: (n) => `$${n}` });
  const [bug, fix] = planned.plans;
  assert.deepEqual(bug!.setup, [
    { sql: 'CREATE TABLE t (id int)', line: 1, file: 'schema.sql' },
    { sql: 'INSERT INTO t VALUES (1)', line: 3, file: 'schema.sql' },
    { sql: 'SELECT 1', line: 6 },
  ]);
  assert.equal(bug!.teardown.length, 2);
  assert.equal(fix!.setup.length, 5);
  assert.deepEqual(fix!.fixSetup, ['file schema.sql']);
});
