// Faults a CI server meets: a lockrepro killed mid-run (SIGKILL) and one stopped (SIGTERM) while a
// step waits. What must hold: the server stops the killed run's statement by itself, a later run
// drops the killed run's scratch database and never a live run's, and SIGTERM cleans up at once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { BIN, lockrepro, scratchFolder } from '../helpers/cli.js';
import { rawMysql } from '../helpers/mysql.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const pgServer = await pgGate();
const maria = await mysqlGate();
const file = scratchFolder();

/** Poll `condition` (a question to the database) until it holds; fail after `timeoutMs`. */
async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
  return Date.now() - start;
}

/** One worker, one step that waits; the run is a hang unless something stops it first. */
function waitingScenario(name: string, sql: string): string {
  return file(
    `${name}.yaml`,
    `name: ${name}
title: A step that waits
story: Its one step waits (a sleep, or a lock the test holds) until the run is stopped.
workers:
  w:
    - { name: wait, sql: ${JSON.stringify(sql)} }
expect: hang
`,
  );
}

interface Running {
  child: ChildProcess;
  exit: Promise<number | null>;
  stderr: () => string;
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1', LOCKREPRO_DB: '', ...env } });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exit, stderr: () => stderr };
}

/**
 * What the test asks each server: its scratch databases (or schemas), and which of them run the
 * waiting step (`sql`, the step of that run).
 */
interface Server {
  url: string;
  databases(prefix: string): Promise<string[]>;
  waiting(prefix: string, sql: string): Promise<string[]>;
  /** More flags for both runs. */
  args?: string[];
}

/**
 * Kill run A (SIGKILL) while its step waits and run B waits too; A's statement must end on the
 * server within `serverStopsWithinMs`; then a third run drops A's database and leaves B's; then
 * SIGTERM stops B within a bound, dropping its database, exit 130.
 */
async function killedAndLive(server: Server, killedSql: string, liveSql: string, stepTimeoutMs: number, serverStopsWithinMs: number) {
  const tag = `${process.pid}_${Date.now() % 100000}`;
  const a = `fault_a_${tag}`;
  const b = `fault_b_${tag}`;
  const prefix = (n: string) => `lockrepro_${n}_`;
  const args = server.args ?? [];
  const runA = start(['run', waitingScenario(a, killedSql), '--db', server.url, '--step-timeout', String(stepTimeoutMs), ...args]);
  const runB = start(['run', waitingScenario(b, liveSql), '--db', server.url, '--step-timeout', '600000', ...args]);
  const sqlOf = { [a]: killedSql, [b]: liveSql };
  try {
    for (const n of [a, b]) await until(async () => (await server.waiting(prefix(n), sqlOf[n]!)).length === 1, 60_000, `run ${n} to wait`);
    const [dbA] = await server.databases(prefix(a));
    const [dbB] = await server.databases(prefix(b));
    assert.match(dbA!, /^lockrepro_fault_a_\w+_[0-9a-f]{8}$/);

    runA.child.kill('SIGKILL');
    await runA.exit;
    const stoppedAfter = await until(
      async () => (await server.waiting(prefix(a), killedSql)).length === 0,
      serverStopsWithinMs,
      "the server to stop the killed run's statement",
    );
    assert.deepEqual(await server.databases(prefix(a)), [dbA], 'the killed run left its scratch database');

    const later = lockrepro(['run', 'ab-ba-deadlock', '--db', server.url]);
    assert.equal(later.code, 0, later.stderr);
    assert.deepEqual(await server.databases(prefix(a)), [], "a later run dropped the dead run's scratch database");
    assert.deepEqual(await server.databases(prefix(b)), [dbB], "a later run left the live run's scratch database");
    assert.deepEqual(await server.waiting(prefix(b), liveSql), [dbB], 'and the live run still waits');

    const t = Date.now();
    runB.child.kill('SIGTERM');
    assert.equal(await runB.exit, 130, runB.stderr());
    const stopMs = Date.now() - t;
    assert.match(runB.stderr(), /interrupted: scratch databases dropped/);
    assert.deepEqual(await server.databases(prefix(b)), [], 'SIGTERM dropped the scratch database');
    // "Within a second" on an idle machine; bounded generously for a loaded CI runner.
    assert.ok(stopMs < 3000, `SIGTERM during a waiting step took ${stopMs} ms`);
    return { stoppedAfter, stopMs };
  } finally {
    runA.child.kill('SIGKILL');
    runB.child.kill('SIGKILL');
  }
}

describe('a killed run and a live one (PostgreSQL 15)', { skip: pgServer.skip }, () => {
  test("SIGKILL: the server stops the run's pg_sleep(20); the next run drops its scratch database, not a live run's; SIGTERM cleans up", async () => {
    pgServer.require();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const server: Server = {
      url: PG_URL,
      databases: async (p) =>
        (await c.query('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [p])).rows.map((r) => r.datname),
      waiting: async (p) =>
        (
          await c.query(
            "SELECT datname FROM pg_stat_activity WHERE starts_with(datname, $1) AND query LIKE 'SELECT pg_sleep(%' AND state = 'active'",
            [p],
          )
        ).rows.map((r) => r.datname),
    };
    try {
      // client_connection_check_interval is 1 s: well under the 20 s the statement asks for.
      const { stoppedAfter, stopMs } = await killedAndLive(server, 'SELECT pg_sleep(20)', 'SELECT pg_sleep(600)', 60_000, 10_000);
      console.log(`PostgreSQL: killed run's statement ended ${stoppedAfter} ms after SIGKILL; SIGTERM run stopped in ${stopMs} ms`);
    } finally {
      await c.end();
    }
  });
});

describe('a killed run and a live one, --scratch schema (PostgreSQL 15)', { skip: pgServer.skip }, () => {
  test("SIGKILL: the next run (a scratch database one) drops the dead run's schema, not a live run's; SIGTERM drops its schema", async () => {
    pgServer.require();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const server: Server = {
      url: PG_URL,
      args: ['--scratch', 'schema'],
      databases: async (p) =>
        (await c.query('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [p])).rows.map((r) => r.nspname),
      // Every run's sessions are in the URL's database; a run's is the one whose statement is its
      // own step, in the schema that run made (one per run, so named by the prefix).
      waiting: async (p, sql) => {
        const running = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1 AND state = 'active'", [sql]);
        if (running.rows[0].n === 0) return [];
        return (await c.query('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [p])).rows.map((r) => r.nspname);
      },
    };
    try {
      const { stoppedAfter, stopMs } = await killedAndLive(server, 'SELECT pg_sleep(20)', 'SELECT pg_sleep(600)', 60_000, 10_000);
      console.log(
        `PostgreSQL, scratch schema: killed run's statement ended ${stoppedAfter} ms after SIGKILL; SIGTERM run stopped in ${stopMs} ms`,
      );
    } finally {
      await c.end();
    }
  });
});

describe('a killed run and a live one (MariaDB)', { skip: maria.skip }, () => {
  test("SIGKILL: the server stops the run's InnoDB lock wait (max_statement_time); the next run drops its scratch database, not a live run's", async () => {
    maria.require();
    const c = await rawMysql(MYSQL_URL);
    // A row lock held by the test's own connection: MariaDB does not notice a dead client under
    // an InnoDB lock wait (measured: it waits on for innodb_lock_wait_timeout, 50 s here).
    const table = `test.ops_hold_${process.pid}`;
    await c.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    await c.query(`INSERT INTO ${table} VALUES (1)`);
    await c.query('BEGIN');
    await c.query(`SELECT id FROM ${table} WHERE id = 1 FOR UPDATE`);
    const server: Server = {
      url: MYSQL_URL,
      databases: async (p) => {
        const [rows] = await c.query('SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ?) = ?', [
          p.length,
          p,
        ]);
        return (rows as { n: string }[]).map((r) => r.n);
      },
      waiting: async (p) => {
        const [rows] = await c.query(
          "SELECT DB AS n FROM information_schema.PROCESSLIST WHERE LEFT(DB, ?) = ? AND INFO LIKE 'SELECT id FROM test.ops_hold%'",
          [p.length, p],
        );
        return (rows as { n: string }[]).map((r) => r.n);
      },
    };
    try {
      const sql = `SELECT id FROM ${table} WHERE id = 1 FOR UPDATE`;
      // --step-timeout 4000: the server's own limit is 2 × 4 s + 5 s = 13 s, not the 50 s lock wait.
      const { stoppedAfter, stopMs } = await killedAndLive(server, sql, sql, 4000, 30_000);
      console.log(`MariaDB: killed run's lock wait ended ${stoppedAfter} ms after SIGKILL; SIGTERM run stopped in ${stopMs} ms`);
    } finally {
      await c.query('ROLLBACK').catch(() => undefined);
      await c.query(`DROP TABLE IF EXISTS ${table}`);
      await c.end();
    }
  });
});

/** SIGTERM once `ready` holds; exit 130 within `boundMs`, with the interrupted line. The time taken. */
async function sigtermWhen(run: Running, ready: () => Promise<boolean>, what: string, boundMs = 3000): Promise<number> {
  try {
    await until(ready, 60_000, what);
    const t = Date.now();
    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 130, run.stderr());
    const ms = Date.now() - t;
    assert.match(run.stderr(), /interrupted: scratch databases dropped/);
    // "Within a second" on an idle machine; bounded generously for a loaded CI runner.
    assert.ok(ms < boundMs, `SIGTERM ${what}: ${ms} ms`);
    return ms;
  } finally {
    run.child.kill('SIGKILL');
  }
}

/** A scenario whose setup or check runs `sleep` (a statement that takes a minute). */
function slowPhase(name: string, phase: 'setup' | 'check', sleep: string): string {
  const setup = phase === 'setup' ? `setup:\n  - ${sleep}\n` : '';
  const checks =
    phase === 'check' ? `checks:\n  - { name: slow, sql: "SELECT ${sleep.replace(/^SELECT /, '')} IS NULL AS ok", expect: true }\n` : '';
  return file(
    `${name}.yaml`,
    `name: ${name}
title: A slow ${phase}
story: Its ${phase} takes a minute.
${setup}workers:
  w:
    - { name: one, sql: SELECT 1 }
${checks}expect: clean
`,
  );
}

describe('SIGTERM in every phase: exit 130 at once, scratch database dropped', () => {
  test('PostgreSQL: during a setup statement and during a check', { skip: pgServer.skip }, async () => {
    pgServer.require();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      for (const phase of ['setup', 'check'] as const) {
        const name = `sigterm_${phase}_${process.pid}`;
        const run = start(['run', slowPhase(name, phase, 'SELECT pg_sleep(60)'), '--db', PG_URL]);
        const running = async () =>
          (
            await c.query(
              "SELECT 1 FROM pg_stat_activity WHERE starts_with(datname, $1) AND query LIKE '%pg_sleep(60)%' AND state = 'active'",
              [`lockrepro_${name}_`],
            )
          ).rowCount === 1;
        const ms = await sigtermWhen(run, running, `during the ${phase}`);
        console.log(`PostgreSQL: SIGTERM during the ${phase}: ${ms} ms`);
        const left = await c.query('SELECT 1 FROM pg_database WHERE starts_with(datname, $1)', [`lockrepro_${name}_`]);
        assert.equal(left.rowCount, 0, `${phase}: scratch database dropped`);
      }
    } finally {
      await c.end();
    }
  });

  test('MariaDB: during a setup statement', { skip: maria.skip }, async () => {
    maria.require();
    const c = await rawMysql(MYSQL_URL);
    try {
      const name = `sigterm_setup_${process.pid}`;
      const prefix = `lockrepro_${name}_`;
      const run = start(['run', slowPhase(name, 'setup', 'SELECT SLEEP(60)'), '--db', MYSQL_URL]);
      const running = async () => {
        const [rows] = await c.query("SELECT 1 FROM information_schema.PROCESSLIST WHERE LEFT(DB, ?) = ? AND INFO = 'SELECT SLEEP(60)'", [
          prefix.length,
          prefix,
        ]);
        return (rows as unknown[]).length === 1;
      };
      const ms = await sigtermWhen(run, running, 'during the setup');
      console.log(`MariaDB: SIGTERM during the setup: ${ms} ms`);
      const [left] = await c.query('SELECT 1 FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ?) = ?', [prefix.length, prefix]);
      assert.deepEqual(left, [], 'scratch database dropped');
    } finally {
      await c.end();
    }
  });

  test('embedded PostgreSQL: during initdb (first run) and while the server starts (later run)', async () => {
    const xdg = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-faults-'));
    chmodSync(xdg, 0o755); // the server's user (nobody, when root runs the tests) must reach it
    const cache = path.join(xdg, 'lockrepro');
    const env = { XDG_CACHE_HOME: xdg };
    /** The lockrepro child's own child running `program` (initdb, postgres), by the process table. */
    const childRuns = (run: Running, program: string) => async () => {
      try {
        return execFileSync('pgrep', ['-P', String(run.child.pid), '-f', `/${program} `], { encoding: 'utf8' }).trim() !== '';
      } catch {
        return false; // pgrep: none
      }
    };
    const first = start(['run', 'ab-ba-deadlock'], env);
    const initdbMs = await sigtermWhen(first, childRuns(first, 'initdb'), 'during initdb');
    assert.deepEqual(existsSync(cache) ? readdirSync(cache).filter((n) => n.includes('.tmp-')) : [], [], 'no half-made cluster left');

    const warm = lockrepro(['run', 'ab-ba-deadlock'], env);
    assert.equal(warm.code, 0, warm.stderr);
    const later = start(['run', 'ab-ba-deadlock'], env);
    const startMs = await sigtermWhen(later, childRuns(later, 'postgres'), 'while the server starts');
    const pgDir = readdirSync(cache).find((n) => n.startsWith('pg-'))!;
    assert.ok(existsSync(path.join(cache, pgDir, 'cluster')), 'the cached cluster is back for the next run');
    assert.deepEqual(readdirSync(path.join(cache, pgDir, 'runs')), [], 'no data directory left');
    console.log(`embedded: SIGTERM during initdb ${initdbMs} ms, while the server starts ${startMs} ms`);
    rmSync(xdg, { recursive: true, force: true });
  });
});

describe("the control connection killed mid-run (the one holding the scratch database's lock)", () => {
  /** Run a scenario whose one step sleeps `seconds`; kill the run's control connection while it sleeps. */
  async function killControl(
    url: string,
    sleep: string,
    db: {
      waiting(prefix: string): Promise<string[]>;
      killHolder(scratch: string): Promise<void>;
      databases(prefix: string): Promise<string[]>;
    },
  ) {
    const name = `ctl_killed_${process.pid}`;
    const prefix = `lockrepro_${name}_`;
    const run = start(['run', waitingScenario(name, sleep), '--db', url, '--json']);
    try {
      await until(async () => (await db.waiting(prefix)).length === 1, 60_000, 'the step to run');
      const [scratch] = await db.waiting(prefix);
      await db.killHolder(scratch!);
      const code = await run.exit;
      assert.ok(code === 0 || code === 1 || code === 3, `exit ${code}: ${run.stderr()}`);
      console.log(`${url.split(':')[0]}: control connection killed: exit ${code}, ${run.stderr().trim() || 'nothing on stderr'}`);
      assert.doesNotMatch(run.stderr(), /internal error|^\s+at /m);
      assert.deepEqual(await db.databases(prefix), [], 'the scratch database is dropped all the same');
    } finally {
      run.child.kill('SIGKILL');
    }
  }

  test('PostgreSQL: a new connection drops the scratch database', { skip: pgServer.skip }, async () => {
    pgServer.require();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await killControl(PG_URL, 'SELECT pg_sleep(2)', {
        waiting: async (p) =>
          (
            await c.query(
              "SELECT datname FROM pg_stat_activity WHERE starts_with(datname, $1) AND query LIKE 'SELECT pg_sleep(%' AND state = 'active'",
              [p],
            )
          ).rows.map((r) => r.datname),
        killHolder: async (scratch) => {
          const r = await c.query(
            "SELECT pg_terminate_backend(pid) AS done FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND classid = 1818980976::oid AND objid = hashtext($1)::oid",
            [scratch],
          );
          assert.deepEqual(r.rows, [{ done: true }], 'the run holds the lock on one connection');
        },
        databases: async (p) =>
          (await c.query('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [p])).rows.map((r) => r.datname),
      });
    } finally {
      await c.end();
    }
  });

  test('MariaDB: the monitor connection drops it', { skip: maria.skip }, async () => {
    maria.require();
    const c = await rawMysql(MYSQL_URL);
    const rows = async (sql: string, params: unknown[]) => (await c.query(sql, params))[0] as Record<string, unknown>[];
    try {
      await killControl(MYSQL_URL, 'SELECT SLEEP(2)', {
        waiting: async (p) =>
          (
            await rows("SELECT DB AS n FROM information_schema.PROCESSLIST WHERE LEFT(DB, ?) = ? AND INFO = 'SELECT SLEEP(2)'", [
              p.length,
              p,
            ])
          ).map((r) => String(r.n)),
        killHolder: async (scratch) => {
          const [holder] = await rows('SELECT IS_USED_LOCK(?) AS id', [scratch]);
          assert.ok(holder?.id, 'the run holds the lock');
          await c.query(`KILL CONNECTION ${Number(holder.id)}`);
        },
        databases: async (p) =>
          (await rows('SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ?) = ?', [p.length, p])).map((r) =>
            String(r.n),
          ),
      });
    } finally {
      await c.end();
    }
  });
});

describe('the connection lost during setup: the database, exit 3; not the scenario', () => {
  test('PostgreSQL: the setup session terminated (57P01)', { skip: pgServer.skip }, async () => {
    pgServer.require();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const name = `lost_setup_${process.pid}`;
    const prefix = `lockrepro_${name}_`;
    const run = start(['run', slowPhase(name, 'setup', 'SELECT pg_sleep(60)'), '--db', PG_URL]);
    try {
      const setupPid = async () =>
        (await c.query("SELECT pid FROM pg_stat_activity WHERE starts_with(datname, $1) AND query = 'SELECT pg_sleep(60)'", [prefix]))
          .rows[0]?.pid;
      await until(async () => (await setupPid()) !== undefined, 60_000, 'the setup statement to run');
      await c.query('SELECT pg_terminate_backend($1)', [await setupPid()]);
      assert.equal(await run.exit, 3, run.stderr());
      assert.match(run.stderr(), /^lockrepro: database connection lost: /m);
      assert.doesNotMatch(run.stderr(), /setup SQL failed|^\s+at /m);
      assert.equal(
        (await c.query('SELECT 1 FROM pg_database WHERE starts_with(datname, $1)', [prefix])).rowCount,
        0,
        'scratch database dropped',
      );
    } finally {
      run.child.kill('SIGKILL');
      await c.end();
    }
  });

  test('MariaDB: the setup session killed', { skip: maria.skip }, async () => {
    maria.require();
    const c = await rawMysql(MYSQL_URL);
    const name = `lost_setup_${process.pid}`;
    const prefix = `lockrepro_${name}_`;
    const run = start(['run', slowPhase(name, 'setup', 'SELECT SLEEP(60)'), '--db', MYSQL_URL]);
    try {
      const setupId = async () => {
        const [rows] = await c.query(
          "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE LEFT(DB, ?) = ? AND INFO = 'SELECT SLEEP(60)'",
          [prefix.length, prefix],
        );
        return (rows as { id: number }[])[0]?.id;
      };
      await until(async () => (await setupId()) !== undefined, 60_000, 'the setup statement to run');
      await c.query(`KILL CONNECTION ${Number(await setupId())}`);
      assert.equal(await run.exit, 3, run.stderr());
      assert.match(run.stderr(), /^lockrepro: database connection lost: /m);
      assert.doesNotMatch(run.stderr(), /setup SQL failed|^\s+at /m);
      const [left] = await c.query('SELECT 1 FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, ?) = ?', [prefix.length, prefix]);
      assert.deepEqual(left, [], 'scratch database dropped');
    } finally {
      run.child.kill('SIGKILL');
      await c.end();
    }
  });
});

describe('a full disk under the report files', () => {
  const root = process.getuid?.() === 0;
  test('--junit on a full tmpfs: one line naming the file and ENOSPC, exit 2, the JSON still on stdout', {
    skip: pgServer.skip || (root ? false : 'SKIPPED: needs root to mount a tmpfs'),
  }, () => {
    pgServer.require();
    const disk = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]);
    try {
      // Fill it: the report files pass the writability check before the run and fail when written.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${path.join(disk, 'fill')}`, 'bs=4k', 'count=100'], { stdio: 'ignore' });
      } catch {
        // dd stops at ENOSPC, as intended
      }
      const junit = path.join(disk, 'report.xml');
      const r = lockrepro(['run', 'ab-ba-deadlock', '--db', PG_URL, '--json', '--junit', junit]);
      assert.equal(r.code, 2, r.stderr);
      assert.deepEqual(r.stderr.trim().split('\n'), [`lockrepro: --junit ${junit}: cannot write: no space left on device (ENOSPC)`]);
      assert.equal(JSON.parse(r.stdout).scenarios[0].name, 'ab-ba-deadlock', 'the report itself is kept');
    } finally {
      execFileSync('umount', [disk]);
      rmSync(disk, { recursive: true, force: true });
    }
  });
});
