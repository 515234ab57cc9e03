// `lockrepro matrix`: each scenario's bug at every isolation level on each database. The cells are
// what the servers really did; only what the engines document is asserted about them (PostgreSQL's
// SERIALIZABLE stops write skew, its READ COMMITTED does not), the rest is the shape of the answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lockrepro, scratchFolder } from '../helpers/cli.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const pg15 = await pgGate();
const maria = await mysqlGate();
const file = scratchFolder();

type Cell = {
  scenario: string;
  dialect: string;
  version: string;
  isolation: string;
  runsAs?: string;
  status: string;
  observed: string[] | null;
  skipped?: string;
  error?: { kind: string; line: number; code: string };
};
type Doc = { lockrepro: number; ok: boolean; matrix: Cell[]; databases: { dialect: string; version: string }[]; error?: { kind: string } };

const LEVELS = ['read-uncommitted', 'read-committed', 'repeatable-read', 'serializable'];

describe('matrix on PostgreSQL 15 and MariaDB', { skip: pg15.skip || maria.skip }, () => {
  test('two scenarios × two databases × four levels: every cell, write skew at read-committed but not serializable on PostgreSQL', () => {
    pg15.require();
    maria.require();
    const r = lockrepro(['matrix', 'write-skew', 'transfer-lost-update', '--db', PG_URL, '--db', MYSQL_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.lockrepro, 1);
    assert.equal(doc.matrix.length, 16);
    const keys = doc.matrix.map((c) => `${c.scenario} ${c.dialect} ${c.isolation}`);
    const want = ['write-skew', 'transfer-lost-update'].flatMap((s) =>
      ['postgres', 'mariadb'].flatMap((d) => LEVELS.map((l) => `${s} ${d} ${l}`)),
    );
    assert.deepEqual([...keys].sort(), [...want].sort());
    for (const c of doc.matrix) {
      assert.equal(c.status, 'ran', JSON.stringify(c));
      assert.ok(Array.isArray(c.observed), JSON.stringify(c));
      assert.match(c.version, /^\d+\.\d+/);
    }
    const cell = (s: string, d: string, l: string) => doc.matrix.find((c) => c.scenario === s && c.dialect === d && c.isolation === l)!;
    assert.ok(cell('write-skew', 'postgres', 'read-committed').observed!.includes('invariant'));
    assert.ok(!cell('write-skew', 'postgres', 'serializable').observed!.includes('invariant'));
    // PostgreSQL says it runs read uncommitted as read committed; MariaDB has all four.
    assert.equal(cell('write-skew', 'postgres', 'read-uncommitted').runsAs, 'read-committed');
    assert.equal(cell('write-skew', 'mariadb', 'read-uncommitted').runsAs, undefined);
    assert.deepEqual(
      doc.databases.map((d) => d.dialect),
      ['postgres', 'mariadb'],
    );
  });

  test('the text table names both engines, every level and every scenario', () => {
    pg15.require();
    maria.require();
    const r = lockrepro(['matrix', 'write-skew', '--isolation', 'read-uncommitted', 'serializable', '--db', PG_URL, '--db', MYSQL_URL]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /postgres 15\./);
    assert.match(r.stdout, /mariadb 10\./);
    assert.match(r.stdout, /write-skew/);
    assert.match(r.stdout, /serializable/);
    assert.match(r.stdout, /accepts read-uncommitted and runs it as read-committed/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no terminal colour codes is the point
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'NO_COLOR: plain text');
  });
});

const PG_ONLY = `name: pg-only
title: Runs on PostgreSQL only
story: Declares PostgreSQL, so MariaDB's cells are n/a.
engines: [postgres]
setup:
  - CREATE TABLE t (id int PRIMARY KEY)
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: write, sql: "INSERT INTO t VALUES (1)" }
    - { name: commit, sql: COMMIT }
expect: clean
`;

describe('matrix cells that did not run', { skip: pg15.skip || maria.skip }, () => {
  test('a scenario whose engines leave a database out is n/a there, not clean; exit 0', () => {
    pg15.require();
    maria.require();
    const f = file('pg-only.yaml', PG_ONLY);
    const r = lockrepro(['matrix', f, '--isolation', 'read-committed', '--db', PG_URL, '--db', MYSQL_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    const [pg, my] = ['postgres', 'mariadb'].map((d) => doc.matrix.find((c) => c.dialect === d)!);
    assert.deepEqual([pg!.status, pg!.observed], ['ran', []]);
    assert.deepEqual([my!.status, my!.observed], ['n/a', null]);
    assert.match(my!.skipped!, /supports postgres, not mariadb/);
    const t = lockrepro(['matrix', f, '--isolation', 'read-committed', '--db', PG_URL, '--db', MYSQL_URL]);
    assert.match(t.stdout, /│ clean +│ n\/a +│/);
  });
});

describe('matrix on PostgreSQL 15: failures', { skip: pg15.skip }, () => {
  test('a scenario whose own SQL fails: its cells marked, the other scenario still answered, exit 2', () => {
    pg15.require();
    const f = file(
      'typo.yaml',
      PG_ONLY.replace('name: pg-only', 'name: typo').replace('INSERT INTO t VALUES (1)', 'INSERT INTO no_such_table VALUES (1)'),
    );
    const r = lockrepro(['matrix', f, 'write-skew', '--isolation', 'read-committed', '--db', PG_URL, '--json']);
    assert.equal(r.code, 2, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.ok, false);
    assert.equal(doc.error?.kind, 'invalid-scenario');
    const typo = doc.matrix.find((c) => c.scenario === 'typo')!;
    assert.equal(typo.status, 'error');
    assert.equal(typo.observed, null);
    assert.deepEqual([typo.error?.kind, typo.error?.code, typo.error?.line], ['scenario-sql', '42P01', 10]);
    assert.deepEqual(doc.matrix.find((c) => c.scenario === 'write-skew')!.observed, ['invariant']);
    assert.match(r.stderr, /typo\.yaml:10: /);
  });

  test('an unreachable database is exit 3 before anything runs; a bad URL or level is exit 2', () => {
    pg15.require();
    const down = lockrepro(['matrix', 'write-skew', '--db', PG_URL, '--db', 'postgres://postgres@127.0.0.1:1/postgres', '--json']);
    assert.equal(down.code, 3, down.stderr);
    assert.equal((JSON.parse(down.stdout) as Doc).error?.kind, 'database');
    for (const args of [
      ['--db', 'nope://x'],
      ['--db', ''],
      ['--isolation', 'snapshot', '--db', PG_URL],
    ]) {
      const r = lockrepro(['matrix', 'write-skew', ...args, '--json']);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as Doc).error?.kind, 'usage');
    }
  });
});
