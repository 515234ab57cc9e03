// `{ file: … }` setup entries: statements split as psql and the mysql client split them, and every
// unreadable or unsplittable file one line naming the place (issue #9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { scratchFolder } from '../helpers/cli.js';
import { FILE_CASES, messageFor, withSetup, writeSqlFiles } from '../helpers/bad-inputs.js';
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
writeSqlFiles(write);

test('bad file entries: one line each, at the entry (unreadable) or at the line in the file (unsplittable)', () => {
  for (const [setup, message] of FILE_CASES) {
    const yaml = withSetup(setup);
    const dir = path.dirname(write('s.yaml', yaml));
    const problems = checkScenario(parseScenarioText('s.yaml', yaml), dir).problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
    assert.deepEqual(problems, [messageFor(message, 's.yaml', '')], setup);
  }
});

test('a file entry plans as its statements, each with its file and line; a fix and teardown take files too', () => {
  write('schema.sql', 'CREATE TABLE t (id int);\n\nINSERT INTO t VALUES (1);\n');
  const yaml = `${withSetup('  - file: schema.sql\n  - SELECT 1')}teardown:\n  - file: { postgres: schema.sql }\nfixes:\n  f:\n    setup: [{ file: schema.sql }]\n`;
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
