// Least privilege: every built-in scenario runs as what a CI database user usually is, an
// ordinary PostgreSQL role with LOGIN CREATEDB and a MariaDB user without SUPER. The grants here
// are the ones docs/databases.md gives (measured: without ALTER or LOCK TABLES a built-in fails;
// without PROCESS nothing runs, which the MariaDB test shows).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { lockrepro, noStack } from '../helpers/cli.js';
import { rawMysql, withCredentials } from '../helpers/mysql.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const pgServer = await pgGate();
const maria = await mysqlGate();

type Doc = {
  ok: boolean;
  database: { settings: Record<string, string> };
  scenarios: { name: string; variants: { met: boolean }[]; error?: unknown }[];
  skipped?: unknown[];
};

/** Every built-in, by the folder they ship in. */
const BUILT_INS = 'scenarios';

function builtInCount(): number {
  const r = lockrepro(['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as unknown[]).length;
}

function runsEveryBuiltIn(url: string): Doc {
  const r = lockrepro(['run', BUILT_INS, '--db', url, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as Doc;
  assert.equal(doc.ok, true);
  assert.equal(doc.scenarios.length, builtInCount(), 'every built-in ran');
  assert.ok(
    doc.scenarios.every((s) => !s.error && s.variants.length > 0 && s.variants.every((v) => v.met)),
    'every variant met',
  );
  return doc;
}

describe('an ordinary PostgreSQL role (LOGIN CREATEDB, no superuser)', { skip: pgServer.skip }, () => {
  test('runs every built-in; deadlock_timeout is the server setting, said so', async () => {
    pgServer.require();
    const role = `lockrepro_plain_${process.pid}`;
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(`CREATE ROLE ${role} LOGIN CREATEDB NOSUPERUSER`);
      const url = new URL(PG_URL);
      url.username = role;
      const doc = runsEveryBuiltIn(url.toString());
      assert.match(doc.database.settings.deadlock_timeout!, /server setting; this role may not lower it/);
      const left = await c.query('SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = $1', [role]);
      assert.deepEqual(left.rows, [], 'its scratch databases dropped');
    } finally {
      await c.query(`DROP ROLE IF EXISTS ${role}`);
      await c.end();
    }
  });
});

describe('a MariaDB user without SUPER', { skip: maria.skip }, () => {
  test('runs every built-in with PROCESS and eight privileges on lockrepro\\_% databases; without PROCESS one line, exit 3', async () => {
    maria.require();
    const user = `lockrepro_plain_${process.pid}`;
    const raw = await rawMysql(MYSQL_URL);
    try {
      await raw.query(`CREATE USER ?@'%'`, [user]);
      await raw.query(`GRANT CREATE, DROP, ALTER, SELECT, INSERT, UPDATE, DELETE, LOCK TABLES ON \`lockrepro\\_%\`.* TO ?@'%'`, [user]);
      // No database in the URL: the user needs none but its scratch databases.
      const url = withCredentials(MYSQL_URL, user, '', '');
      const denied = lockrepro(['run', 'ab-ba-deadlock', '--db', url]);
      assert.equal(denied.code, 3, denied.stderr);
      noStack(denied.stderr);
      assert.match(denied.stderr, /^lockrepro: cannot use .*: lockrepro needs the PROCESS privilege to see lock waits/);
      assert.equal(denied.stderr.trim().split('\n').length, 1);

      await raw.query(`GRANT PROCESS ON *.* TO ?@'%'`, [user]);
      const [grants] = await raw.query(`SHOW GRANTS FOR ?@'%'`, [user]);
      assert.doesNotMatch(JSON.stringify(grants), /SUPER|ALL PRIVILEGES/);
      runsEveryBuiltIn(url);
    } finally {
      await raw.query(`DROP USER IF EXISTS ?@'%'`, [user]);
      await raw.end();
    }
  });
});
