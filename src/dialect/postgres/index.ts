/**
 * The PostgreSQL dialect, on node-postgres: connect, say what the server is and allows, create
 * scratch databases or schemas (scratch.ts), and close.
 */
import type { DatabaseInfo, Dialect, Scratch } from '../../engine/dialect.js';
import { QueryError } from '../../engine/dialect.js';
import { ConnectionLost } from '../../errors.js';
import { backendPid, oneAtATime, openClient, quoteIdent, run } from './client.js';
import { DEADLOCK_TIMEOUT_CLOSER_MS, DEADLOCK_TIMEOUT_STAGGER_MS } from './deadlock-timeout.js';
import { PostgresScratch } from './scratch.js';
import { ownsLock, SCRATCH_LIKE, scratchName } from '../scratch-name.js';
import { withDatabase } from '../url.js';
import type { ScratchKind } from '../../vocabulary.js';
import type pg from 'pg';

export interface PostgresOptions {
  /** Set when lockrepro started the server; called by close(). */
  embedded?: { stop(): Promise<void> };
  /** A scratch database per run (the default), or a scratch schema in the URL's database. */
  scratch?: ScratchKind;
}

export async function connectPostgres(url: string, opts: PostgresOptions = {}): Promise<Dialect> {
  // The URL's password is already known to scrub(): connectDatabase registers it for every engine.
  const admin = oneAtATime(await openClient(url, 'lockrepro', OWN_SESSIONS));
  try {
    // What the server is and allows, and the scratch left by dead runs: one round trip.
    const about = (await run(admin, ABOUT, [SCRATCH_LIKE])).rows[0]!;
    const version = String(about.version).split(' ')[0]!;
    const kind = opts.scratch ?? 'database';
    // deadlock_timeout may be set by a superuser, and from PostgreSQL 15 by a role granted SET on it.
    const canLower =
      about.super === true ||
      (Number(about.num) >= 150000 &&
        (await run(admin, "SELECT has_parameter_privilege('deadlock_timeout', 'SET') AS ok")).rows[0]!.ok === true);
    // PostgreSQL 14+: the backend looks at its socket while a statement runs and stops it once
    // lockrepro is gone (SIGKILL), instead of running a pg_sleep(20) to its end. Any role may set it.
    const sessionOptions = Number(about.num) >= 140000 ? ` -c client_connection_check_interval=${CLIENT_CHECK_MS}` : '';
    const info: DatabaseInfo = {
      dialect: 'postgres',
      version,
      embedded: opts.embedded !== undefined,
      // PostgreSQL's MVCC never shows uncommitted rows: READ UNCOMMITTED is READ COMMITTED.
      runsAs: { 'read-uncommitted': 'read-committed' },
      settings: {
        deadlock_timeout: canLower
          ? `${DEADLOCK_TIMEOUT_CLOSER_MS}ms + ${DEADLOCK_TIMEOUT_STAGGER_MS}ms per other worker not waiting (set by lockrepro: the closer of a cycle is the victim)`
          : `${about.deadlock_timeout} (server setting; this role may not lower it)`,
        // Said in every transcript of such a run: its tables live in the user's own database.
        ...(kind === 'schema' ? { scratch: `a schema in database ${about.db}, dropped at the end (--scratch schema)` } : {}),
      },
    };
    // The embedded cluster belongs to this run alone: every scratch database in it is a leftover.
    await dropLeftovers(admin, JSON.parse(String(about.leftovers_json)) as [ScratchKind, string][], opts.embedded !== undefined);
    return new PostgresDialect(url, admin, info, kind, canLower, sessionOptions, opts.embedded);
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }
}

/**
 * lockrepro's own sessions (the control connection: CREATE and DROP; the monitor: setup, checks,
 * teardown) commit without waiting for the WAL to reach the disk: what they write is scratch,
 * visible to the workers at commit all the same, and worth nothing after a crash. A commit's
 * flush is a disk sync each, slow on a busy CI disk. The workers keep the server's setting: how
 * long their commits take is part of the race they run.
 */
const OWN_SESSIONS = ' -c synchronous_commit=off';

/** How often (ms) a backend checks that lockrepro is still connected while a statement runs. */
const CLIENT_CHECK_MS = 1000;

/**
 * A run holds an advisory lock named after its scratch database (or schema), on its control
 * connection, from before creating it until after dropping it: the lock is how another run tells
 * a live scratch from one whose run is gone (the server releases a session's locks when the
 * session ends, however it ends). Two keys, so lockrepro's never meet an application's one-key
 * locks; hashtext() is the server's own, the same for every run on that server.
 */
const LOCK_CLASS = 0x6c6b7270; // 'lkrp'
const TRY_LOCK = `SELECT pg_try_advisory_lock(${LOCK_CLASS}, hashtext($1)) AS got`;
const UNLOCK = `SELECT pg_advisory_unlock(${LOCK_CLASS}, hashtext($1))`;
const UNLOCKED = (name: string) => `NOT EXISTS (
  SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
    AND l.classid = ${LOCK_CLASS}::oid AND l.objid = hashtext(${name})::oid)`;

/**
 * The scratch databases on the server, and the scratch schemas in the database connected to,
 * whose run is gone: no session on the server holds their lock. Advisory locks belong to one
 * database, and runs may connect to different ones on the same server, so the lock is looked for
 * in pg_locks (every database's, readable by any role) rather than taken. The owner takes it
 * before creating its scratch, so one without it has no owner.
 */
const LEFTOVERS = `SELECT 'database' AS kind, datname AS name FROM pg_database d WHERE datname LIKE $1 AND ${UNLOCKED('d.datname')}
  UNION ALL
  SELECT 'schema', nspname FROM pg_namespace n WHERE nspname LIKE $1 AND ${UNLOCKED('n.nspname')}`;

/** What lockrepro asks first, in one round trip. Its deadlock_timeout is still the server's: nothing has set it. */
const ABOUT = `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
  current_database() AS db, current_setting('deadlock_timeout') AS deadlock_timeout,
  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super,
  (SELECT coalesce(json_agg(json_build_array(l.kind, l.name)), '[]') FROM (${LEFTOVERS}) l)::text AS leftovers_json`;

/**
 * Drop the leftovers. One this role may not drop (another role's) is left alone, and so is one
 * named before runs held locks (see ownsLock).
 */
async function dropLeftovers(admin: pg.Client, left: readonly [ScratchKind, string][], all: boolean): Promise<void> {
  for (const [kind, name] of left) {
    if (!all && !ownsLock(name)) continue;
    await dropScratchOf(admin, kind, name).catch((e) => {
      if (isLost(e)) throw e;
    });
  }
}

function dropScratchOf(client: pg.Client, kind: ScratchKind, name: string): Promise<void> {
  return kind === 'schema' ? dropSchema(client, name) : dropDatabase(client, name);
}

/** DROP DATABASE with the sessions still in it ended (WITH (FORCE) is PostgreSQL 13+). */
async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await run(client, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(async (e) => {
    if (isLost(e)) throw e;
    await run(client, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
    await run(client, `DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
  });
}

/**
 * How long DROP SCHEMA waits for the locks on what the schema holds. The run's own sessions are
 * ended first and let go within milliseconds; what can hold on for ever is a transaction the
 * scenario prepared (PREPARE TRANSACTION) and left: then the drop fails, the run says so, and the
 * schema goes when a later run finds it without its lock.
 */
const DROP_SCHEMA_LOCK_WAIT_MS = 10_000;

async function dropSchema(client: pg.Client, name: string): Promise<void> {
  // One round trip; the SET goes with the implicit transaction if the DROP fails.
  await run(
    client,
    `SET lock_timeout = ${DROP_SCHEMA_LOCK_WAIT_MS}; DROP SCHEMA IF EXISTS ${quoteIdent(name)} CASCADE; RESET lock_timeout`,
  );
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
    private readonly scratchKind: ScratchKind,
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
    return this.scratchKind === 'schema' ? this.createSchema(name) : this.createDatabase(name);
  }

  private async createDatabase(name: string): Promise<Scratch> {
    await run(this.admin, `CREATE DATABASE ${quoteIdent(name)}`).catch(async (e) => {
      await run(this.admin, UNLOCK, [name]).catch(() => undefined);
      throw e;
    });
    const url = withDatabase(this.url, name);
    const monitor = await this.openMonitor(url, this.sessionOptions).catch(async (e) => {
      await this.dropScratch(name).catch(() => undefined);
      throw e;
    });
    const scratch = this.track(name, url, this.sessionOptions, monitor);
    // Without its fingerprint the scratch is simply not reset (a new one is made each run).
    await scratch.markNew().catch(() => undefined);
    return scratch;
  }

  /**
   * A schema in the URL's database, which every session of the run sees alone (search_path, set
   * at connection): an unqualified name can never reach that database's own tables. Not reset
   * between runs: a new schema costs no more than a reset would.
   */
  private async createSchema(name: string): Promise<Scratch> {
    const options = `${this.sessionOptions} -c search_path=${name}`;
    // The monitor connects while the schema is made: a search_path may name a schema not yet there.
    const [monitor, created] = await Promise.allSettled([
      this.openMonitor(this.url, options),
      run(this.admin, `CREATE SCHEMA ${quoteIdent(name)}`),
    ]);
    if (monitor.status === 'rejected' || created.status === 'rejected') {
      if (monitor.status === 'fulfilled') await monitor.value.client.end().catch(() => undefined);
      await this.dropScratch(name).catch(() => undefined);
      throw monitor.status === 'rejected' ? monitor.reason : (created as PromiseRejectedResult).reason;
    }
    return this.track(name, this.url, options, monitor.value);
  }

  private async openMonitor(url: string, options: string): Promise<{ client: pg.Client; pid: number }> {
    const client = await openClient(url, 'lockrepro-monitor', `${options}${OWN_SESSIONS}`);
    return { client, pid: backendPid(client) };
  }

  private track(name: string, url: string, options: string, monitor: { client: pg.Client; pid: number }): PostgresScratch {
    const scratch = new PostgresScratch(
      name,
      url,
      options,
      monitor.client,
      monitor.pid,
      this.admin,
      this.canLowerDeadlockTimeout,
      this.scratchKind === 'database',
      async () => {
        this.scratches.delete(scratch);
        await this.dropScratch(name);
      },
    );
    this.scratches.add(scratch);
    return scratch;
  }

  /**
   * Drop a scratch database or schema, then let its lock go. With the control connection ended
   * under the run (killed by hand, say), a new connection drops it: the lock went with the old
   * session.
   */
  private async dropScratch(name: string): Promise<void> {
    try {
      await dropScratchOf(this.admin, this.scratchKind, name);
    } catch (e) {
      if (!isLost(e)) throw e;
      const fresh = await openClient(this.url, 'lockrepro', OWN_SESSIONS);
      try {
        await dropScratchOf(fresh, this.scratchKind, name);
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
