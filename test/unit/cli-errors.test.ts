// What the CLI makes of errors: only a lost or refused database is exit 3, anything else it has no
// name for is its own bug (exit 4, one line); which scenarios run on which engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyRunError, isConnectionError } from '../../src/cli/errors.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { main, type Io } from '../../src/cli/main.js';
import { QueryError } from '../../src/engine/dialect.js';
import { ConnectionLost, DatabaseUnavailableError } from '../../src/errors.js';
import { engineSkipReason, scenarioEngines } from '../../src/plan/plan.js';
import { scenarioFrom } from '../helpers/scenario.js';

test('connection problems and refused SQL are exit 3; a TypeError is an internal error, exit 4', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  for (const e of [
    new DatabaseUnavailableError('cannot connect'),
    refused,
    new ConnectionLost('Connection terminated unexpectedly'),
    new QueryError({
      code: '57P01',
      kind: 'other',
      message: 'terminating connection due to administrator command',
      rolledBack: 'transaction',
      connectionLost: true,
    }),
  ]) {
    assert.equal(classifyRunError(e, {}).code, EXIT.DATABASE, e.message);
  }
  const denied = new QueryError({
    code: '42501',
    kind: 'other',
    message: 'permission denied to create database',
    rolledBack: 'transaction',
  });
  assert.deepEqual(classifyRunError(denied, {}), {
    code: EXIT.DATABASE,
    message: 'database error: 42501 permission denied to create database',
  });
  // A driver's own server error that no dialect classified (node-postgres shape, mysql2 shape).
  const pgRaw = Object.assign(new Error('the database system is shutting down'), { code: '57P03', severity: 'FATAL' });
  assert.deepEqual(classifyRunError(pgRaw, {}), {
    code: EXIT.DATABASE,
    message: 'database error: 57P03 the database system is shutting down',
  });
  const myRaw = Object.assign(new Error('Access denied'), { code: 'ER_DBACCESS_DENIED_ERROR', errno: 1044, sqlState: '42000' });
  assert.equal(classifyRunError(myRaw, {}).code, EXIT.DATABASE);

  const bug = classifyRunError(new TypeError("Cannot read properties of undefined (reading 'x')"), {});
  assert.equal(bug.code, EXIT.INTERNAL);
  assert.match(bug.message, /^internal error: Cannot read properties of undefined \(reading 'x'\) \(a bug in lockrepro: please report it/);
  assert.doesNotMatch(bug.message, /\n/);
  assert.match(classifyRunError(new TypeError('boom'), { LOCKREPRO_DEBUG: '1' }).message, /\n\s+at /, 'the stack with LOCKREPRO_DEBUG');
  assert.equal(isConnectionError(new Error('syntax error at or near "x"')), false);
  // Decided by type and code, never by message text.
  assert.equal(isConnectionError(new Error('Connection terminated unexpectedly')), false);
});

test('main(): an exception it has no name for is one line and exit 4, never "database error" or a stack', async () => {
  const err: string[] = [];
  const io: Io = {
    out: () => {
      throw new TypeError('a bug while printing postgres://u:s3cr3t@h/x');
    },
    err: (t) => void err.push(t),
    env: {},
    isTTY: false,
  };
  assert.equal(await main(['list'], io), EXIT.INTERNAL);
  const text = err.join('');
  assert.equal(text.trim().split('\n').length, 1, text);
  assert.match(text, /^lockrepro: internal error: a bug while printing postgres:\/\/u:\*\*\*@h\/x \(a bug in lockrepro/);
  assert.doesNotMatch(text, /s3cr3t|database error/);
});

test('engines: mysql covers MariaDB; others are skipped with a reason', () => {
  const declaring = (engines: string) =>
    scenarioFrom(`name: s\ntitle: t\nstory: s\nengines: ${engines}\nworkers:\n  a: [{ name: x, sql: SELECT 1 }]\nexpect: clean\n`);
  assert.equal(engineSkipReason(declaring('[mysql]'), 'mariadb'), null);
  assert.equal(engineSkipReason(declaring('[mysql]'), 'mysql'), null);
  assert.equal(engineSkipReason(declaring('[mariadb]'), 'mysql'), 's supports mariadb, not mysql');
  assert.equal(engineSkipReason(declaring('[mysql]'), 'postgres'), 's supports mysql, not postgres');
  // The scenario's note for an engine it leaves out says why.
  const why = scenarioFrom(
    `name: s\ntitle: t\nstory: s\nengines: [postgres]\nworkers:\n  a: [{ name: x, sql: SELECT 1 }]\nexpect: clean\nnotes: { sqlite: No row locks. }\n`,
  );
  assert.equal(engineSkipReason(why, 'sqlite'), 's supports postgres, not sqlite: No row locks.');
  assert.equal(engineSkipReason(why, 'mysql'), 's supports postgres, not mysql');
});

test('without engines: a scenario runs where its SQL goes; elsewhere it is skipped, naming the first place without SQL', () => {
  const sc = scenarioFrom(`name: s
title: t
story: s
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: lock, sql: { postgres: LOCK TABLE t } }
    - { name: other, sql: { postgres: SELECT 1 } }
expect: clean
`);
  assert.equal(engineSkipReason(sc, 'postgres'), null);
  assert.equal(engineSkipReason(sc, 'mariadb'), 's has no SQL for mariadb (step a.lock, line 7)');
  assert.equal(engineSkipReason(sc, 'mysql'), 's has no SQL for mysql (step a.lock, line 7)');
  assert.deepEqual(scenarioEngines(sc), ['postgres']);
  // mysql SQL serves MariaDB too; an expectation per engine counts like SQL.
  const my = scenarioFrom(`name: m
title: t
story: s
workers:
  a: [{ name: x, sql: { mysql: SELECT 1, postgres: SELECT 2 } }]
expect: { mysql: clean, mariadb: deadlock }
fixes:
  f: { expect: { mariadb: clean } }
`);
  assert.equal(engineSkipReason(my, 'mariadb'), null);
  assert.equal(engineSkipReason(my, 'postgres'), 'm has no expectation for postgres (expect, line 6)');
  assert.equal(engineSkipReason(my, 'mysql'), 'm has no expectation for mysql (fix f: expect, line 8)');
  assert.deepEqual(scenarioEngines(my), ['mariadb']);
  assert.deepEqual(
    scenarioEngines(scenarioFrom(`name: n\ntitle: t\nstory: s\nworkers:\n  a: [{ name: x, sql: SELECT 1 }]\nexpect: clean\n`)),
    ['postgres', 'mysql', 'mariadb', 'sqlite'],
  );
});
