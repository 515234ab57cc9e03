// A pasted migration with several statements, dollar-quoted functions and a DELIMITER block runs
// as setup on the real PostgreSQL and MariaDB; a statement of it that fails is blamed on its line
// in the .sql file, exit 2 (issue #9).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockrepro, noStack, scratchFolder } from '../helpers/cli.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const pgServer = await pgGate();
const maria = await mysqlGate();
const write = scratchFolder();

write(
  'pg.sql',
  `-- migration 001
CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL, note text DEFAULT 'a;b');
CREATE FUNCTION bump(i int) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE account SET balance = balance + 1 WHERE id = i; -- a ; inside the body
END $fn$;
INSERT INTO account VALUES (1, 100, E'it\\'s;'), (2, 100, $$x;y$$);
`,
);
write(
  'my.sql',
  `CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL, note varchar(20) DEFAULT 'a\\';b'); # a ; here
DELIMITER //
CREATE PROCEDURE bump(i int) BEGIN UPDATE account SET balance = balance + 1 WHERE id = i; SELECT "x;"; END//
DELIMITER ;
INSERT INTO account VALUES (1, 100, 'x'), (2, 100, "y;");
`,
);
write('typo.sql', 'CREATE TABLE account (id int PRIMARY KEY, balance int);\n\nINSERT INTO acount VALUES (1, 1);\n');

const scenario = (setup: string, bump: string) =>
  write(
    `s-${setup.length}-${bump.length}.yaml`,
    `name: migration
title: a migration as setup
story: the application's own schema, pasted as it is
setup:
  - file: ${setup}
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: bump, sql: ${bump} }
    - { name: commit, sql: COMMIT }
checks:
  - { name: bumped, sql: SELECT balance FROM account WHERE id = 1, expect: 101 }
expect: clean
`,
  );
const MIGRATION = scenario('{ postgres: pg.sql, mysql: my.sql }', '{ postgres: SELECT bump(1), mysql: CALL bump(1) }');

test('a migration with a function (PostgreSQL dollar quotes) runs as setup', { skip: pgServer.skip }, () => {
  pgServer.require();
  const r = lockrepro(['run', MIGRATION, '--db', PG_URL]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('a migration with a DELIMITER block runs as setup on MariaDB', { skip: maria.skip }, () => {
  maria.require();
  const r = lockrepro(['run', MIGRATION, '--db', MYSQL_URL]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

test('a statement of a setup file that fails: exit 2, the .sql file and its line, in text and JSON', { skip: pgServer.skip }, () => {
  pgServer.require();
  const file = scenario('typo.sql', 'SELECT 1');
  const sql = file.replace(/[^/]+$/, 'typo.sql');
  const r = lockrepro(['run', file, '--db', PG_URL, '--json']);
  assert.equal(r.code, 2, r.stderr);
  noStack(r.stderr);
  assert.equal(r.stderr.trim(), `${sql}:3: setup SQL failed: 42P01 relation "acount" does not exist`);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(json.scenarios[0].error, {
    kind: 'scenario-sql',
    file: sql,
    line: 3,
    code: '42P01',
    message: 'setup SQL failed: 42P01 relation "acount" does not exist',
  });
});
