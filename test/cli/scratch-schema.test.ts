// --scratch schema: the run's tables live in a schema lockrepro makes in the --db database. What
// must hold: the run sees nothing of that database's own tables (a scenario's unqualified names
// resolve in the scratch schema alone) and changes none of them, the schema is gone afterwards, a
// role without CREATEDB can run with it, and the engines that have no such thing refuse the flag.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { lockrepro, noStack } from '../helpers/cli.js';
import { PG_URL, pgGate } from '../helpers/servers.js';

const pgServer = await pgGate();

type Doc = {
  ok: boolean;
  database: { settings: Record<string, string> };
  scenarios: { name: string; error?: unknown; variants: { name: string; met: boolean }[] }[];
};

/** A database of the test's own on the PostgreSQL 15 server (not named lockrepro_*: no run may take it for a leftover). */
async function ownDatabase(admin: pg.Client, name: string): Promise<string> {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('--scratch schema on PostgreSQL 15', { skip: pgServer.skip }, () => {
  test("the database's own account table is neither seen nor changed; the run's schema is dropped", async () => {
    pgServer.require();
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const db = `ltest_scratch_schema_${process.pid}`;
    try {
      const url = await ownDatabase(admin, db);
      // The same name as the scenario's table, with other columns and a balance nobody may touch.
      await query(url, 'CREATE TABLE public.account (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL)');
      await query(url, "INSERT INTO public.account VALUES (1, 'the application', 999)");

      const r = lockrepro(['run', 'transfer-lost-update', '--db', url, '--scratch', 'schema', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as Doc;
      assert.ok(
        doc.scenarios[0]!.variants.every((v) => v.met),
        'the bug loses the update and every fix keeps it, as with a scratch database',
      );
      assert.match(doc.database.settings.scratch!, new RegExp(`^a schema in database ${db}, dropped at the end`));

      assert.deepEqual(await query(url, 'SELECT id, owner, balance FROM public.account'), [
        { id: 1, owner: 'the application', balance: 999 },
      ]);
      assert.deepEqual(await query(url, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lockrepro%'"), [], 'no schema left');
      assert.deepEqual(
        await query(url, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"),
        [{ relname: 'account' }],
        'nothing made in public',
      );
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.end();
    }
  });

  test('a role without CREATEDB, with CREATE on one database: every built-in runs with --scratch schema; a scratch database is refused in one line', async () => {
    pgServer.require();
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    const db = `ltest_scratch_role_${process.pid}`;
    const role = `ltest_schema_only_${process.pid}`;
    try {
      const url = new URL(await ownDatabase(admin, db));
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.query(`CREATE ROLE ${role} LOGIN NOCREATEDB NOSUPERUSER`);
      await admin.query(`GRANT CONNECT, CREATE ON DATABASE ${db} TO ${role}`);
      url.username = role;

      const denied = lockrepro(['run', 'ab-ba-deadlock', '--db', url.toString()]);
      assert.equal(denied.code, 3, denied.stderr);
      noStack(denied.stderr);
      assert.match(denied.stderr, /permission denied to create database/);

      const r = lockrepro(['run', 'scenarios', '--db', url.toString(), '--scratch', 'schema', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as Doc;
      assert.ok(doc.scenarios.length >= 9, 'every built-in ran');
      assert.ok(
        doc.scenarios.every((s) => !s.error && s.variants.length > 0 && s.variants.every((v) => v.met)),
        'every variant met',
      );
      assert.deepEqual(await query(url.toString(), "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lockrepro%'"), []);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});

// Refused before anything connects: no server needed.
describe('--scratch schema where there is no such thing', () => {
  for (const [db, engine] of [
    ['mysql://root@127.0.0.1:3306/test', /MySQL and MariaDB a schema is a database/],
    ['mariadb://root@127.0.0.1:3306/test', /MySQL and MariaDB a schema is a database/],
    ['sqlite:', /SQLite the scratch is a file/],
  ] as const) {
    test(`${db}: one line, exit 2`, () => {
      const r = lockrepro(['run', 'ab-ba-deadlock', '--db', db, '--scratch', 'schema']);
      assert.equal(r.code, 2, r.stderr);
      noStack(r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^lockrepro: --scratch schema is for PostgreSQL/);
      assert.match(r.stderr, engine);
    });
  }

  test('--scratch with another word: the choices, exit 2', () => {
    const r = lockrepro(['run', 'ab-ba-deadlock', '--scratch', 'table']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--scratch.*table.*database, schema/);
  });
});
