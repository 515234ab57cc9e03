/**
 * The PostgreSQL dialect, on node-postgres: connect, say what the server is and allows, create
 * scratch databases (scratch.ts), and close.
 */
import type { DatabaseInfo, Dialect, Scratch } from '../../engine/dialect.js';
import { QueryError } from '../../engine/dialect.js';
import { ConnectionLost } from '../../errors.js';
import { oneAtATime, openClient, quoteIdent, run, trySet } from './client.js';
import { DEADLOCK_TIMEOUT_CLOSER_MS, DEADLOCK_TIMEOUT_STAGGER_MS } from './deadlock-timeout.js';
import { PostgresScratch } from './scratch.js';
import { ownsLock, SCRATCH_LIKE, scratchName } from '../scratch-name.js';
import { withDatabase } from '../url.js';
import type pg from 'pg';

export interface PostgresOptions {
  /** Set when lockrepro started the server; called by close(). */
  embedded?: { stop(): Promise<void> };
}

export async function connectPostgres(url: string, opts: PostgresOptions = {}): Promise<Dialect> {
  // The URL's password is already known to scrub(): connectDatabase registers it for every engine.
  const admin = oneAtATime(await openClient(url, 'lockrepro'));
  try {
    const version = String((await admin.query('SHOW server_version')).rows[0].server_version).split(' ')[0]!;
    // An ordinary role may neither SET nor RESET deadlock_timeout (context superuser).
    const canLower = await trySet(admin, `SET deadlock_timeout = '${DEADLOCK_TIMEOUT_CLOSER_MS}ms'`);
    if (canLower) await admin.query('RESET deadlock_timeout');
    const serverDefault = String((await admin.query('SHOW deadlock_timeout')).rows[0].deadlock_timeout);
    // PostgreSQL 14+: the backend looks at its socket while a statement runs and stops it once
    // lockrepro is gone (SIGKILL), instead of running a pg_sleep(20) to its end. Any role may set
    // it; an older server does not have it (42704) and runs without.
    const checksClient = await trySet(admin, `SET client_connection_check_interval = ${CLIENT_CHECK_MS}`);
    const sessionOptions = checksClient ? ` -c client_connection_check_interval=${CLIENT_CHECK_MS}` : '';
    const info: DatabaseInfo = {
      dialect: 'postgres',
      version,
      embedded: opts.embedded !== undefined,
      // PostgreSQL's MVCC never shows uncommitted rows: READ UNCOMMITTED is READ COMMITTED.
      runsAs: { 'read-uncommitted': 'read-committed' },
      settings: {
        deadlock_timeout: canLower
          ? `${DEADLOCK_TIMEOUT_CLOSER_MS}ms + ${DEADLOCK_TIMEOUT_STAGGER_MS}ms per other worker not waiting (set by lockrepro: the closer of a cycle is the victim)`
          : `${serverDefault} (server setting; this role may not lower it)`,
      },
    };
    // The embedded cluster belongs to this run alone: every scratch database in it is a leftover.
    await dropLeftovers(admin, opts.embedded !== undefined);
    return new PostgresDialect(url, admin, info, canLower, sessionOptions, opts.embedded);
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }
}

/** How often (ms) a backend checks that lockrepro is still connected while a statement runs. */
const CLIENT_CHECK_MS = 1000;

/**
 * A run holds an advisory lock named after its scratch database, on its control connection, from
 * before CREATE DATABASE until after DROP DATABASE: the lock is how another run tells a live
 * scratch database from one whose run is gone (the server releases a session's locks when the
 * session ends, however it ends). Two keys, so lockrepro's never meet an application's one-key
 * locks; hashtext() is the server's own, the same for every run on that server.
 */
const LOCK_CLASS = 0x6c6b7270; // 'lkrp'
const TRY_LOCK = `SELECT pg_try_advisory_lock(${LOCK_CLASS}, hashtext($1)) AS got`;
const UNLOCK = `SELECT pg_advisory_unlock(${LOCK_CLASS}, hashtext($1))`;

/**
 * Drop the scratch databases whose run is gone: no session on the server holds their lock.
 * Advisory locks belong to one database, and runs may connect to different ones on the same server,
 * so the lock is looked for in pg_locks (every database's, readable by any role) rather than
 * taken. The owner takes it before creating its database, so a database without it has no owner.
 * A database this role may not drop (another role's) is left alone, and so is one named before
 * runs held locks (see ownsLock).
 */
async function dropLeftovers(admin: pg.Client, all: boolean): Promise<void> {
  const left = await run(
    admin,
    `SELECT datname FROM pg_database d WHERE datname LIKE $1 AND NOT EXISTS (
       SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
         AND l.classid = ${LOCK_CLASS}::oid AND l.objid = hashtext(d.datname)::oid)`,
    [SCRATCH_LIKE],
  );
  for (const r of left.rows) {
    if (!all && !ownsLock(String(r.datname))) continue;
    await dropDatabase(admin, String(r.datname)).catch((e) => {
      if (isLost(e)) throw e;
    });
  }
}

/** DROP DATABASE with the sessions still in it ended (WITH (FORCE) is PostgreSQL 13+). */
async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await run(client, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(async (e) => {
    if (isLost(e)) throw e;
    await run(client, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
    await run(client, `DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
  });
}

function isLost(e: unknown): boolean {
  return e instanceof ConnectionLost || (e instanceof QueryError && e.db.connectionLost === true);
}

class PostgresDialect implements Dialect {
  private readonly scratches = new Set<PostgresScratch>();

  constructor(
    private readonly url: string,
    private readonly admin: pg.Client,
    readonly info: DatabaseInfo,
    private readonly canLowerDeadlockTimeout: boolean,
    private readonly sessionOptions: string,
    private readonly embedded?: { stop(): Promise<void> },
  ) {}

  placeholder(n: number): string {
    return `$${n}`;
  }

  async createScratch(label: string): Promise<Scratch> {
    let name = scratchName(label);
    // Another run's name with the same hash holds the lock: a new random suffix.
    while (!(await run(this.admin, TRY_LOCK, [name])).rows[0]!.got) name = scratchName(label);
    await run(this.admin, `CREATE DATABASE ${quoteIdent(name)}`).catch(async (e) => {
      await run(this.admin, UNLOCK, [name]).catch(() => undefined);
      throw e;
    });
    const url = withDatabase(this.url, name);
    let client: pg.Client | undefined;
    let monitorPid: number;
    try {
      client = await openClient(url, 'lockrepro-monitor', this.sessionOptions);
      monitorPid = Number((await run(client, 'SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    } catch (e) {
      await client?.end().catch(() => undefined);
      await this.dropScratch(name).catch(() => undefined);
      throw e;
    }
    const scratch = new PostgresScratch(
      name,
      url,
      this.sessionOptions,
      client,
      monitorPid,
      this.admin,
      this.canLowerDeadlockTimeout,
      async () => {
        this.scratches.delete(scratch);
        await this.dropScratch(name);
      },
    );
    this.scratches.add(scratch);
    // Without its fingerprint the scratch is simply not reset (a new one is made each run).
    await scratch.markNew().catch(() => undefined);
    return scratch;
  }

  /**
   * Drop a scratch database, then let its lock go. With the control connection ended under the
   * run (killed by hand, say), a new connection drops it: the lock went with the old session.
   */
  private async dropScratch(name: string): Promise<void> {
    try {
      await dropDatabase(this.admin, name);
    } catch (e) {
      if (!isLost(e)) throw e;
      const fresh = await openClient(this.url, 'lockrepro');
      try {
        await dropDatabase(fresh, name);
      } finally {
        await fresh.end().catch(() => undefined);
      }
      return;
    }
    await run(this.admin, UNLOCK, [name]).catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const s of [...this.scratches]) await s.drop().catch(() => undefined);
    await this.admin.end().catch(() => undefined);
    await this.embedded?.stop();
  }
}
