/**
 * The PostgreSQL dialect, on node-postgres. One client per worker (application_name = worker),
 * one admin client per scratch database that runs setup/checks and is also the monitor.
 */
import pg from 'pg';
import type { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { QueryError, type DatabaseInfo, type DbError, type DeadlockReport, type Dialect, type QueryResult, type Scratch, type Session } from '../../engine/dialect.js';
import { ISOLATION_SQL, type IsolationLevel } from '../../vocabulary.js';
import { ConnectionLost, DatabaseUnavailableError } from '../../errors.js';
import { redactUrl, scrub } from '../../util/redact.js';
import { classifyPgError, nameRelations, parseDeadlockDetail, relationOids } from './errors.js';

/**
 * deadlock_timeout for worker sessions, in ms. PostgreSQL runs its deadlock check once per wait,
 * deadlock_timeout after that wait began, in the waiting backend; the backend whose check finds the
 * cycle is the victim (lab-notes). A cycle closes when its last member starts to wait, and at that
 * moment the others already wait: so the statement that closes it gets the shortest timeout and
 * its check, CLOSER after its own wait began, sees the whole cycle however late it arrived. The
 * scheduler sends a statement only while the other in-flight statements wait, so "k others
 * waiting when sent" ranks how late a statement joins: it gets CLOSER + (workers − 1 − k) ×
 * STAGGER. Earlier waiters' checks come at least STAGGER later than a closer's, or ran before the
 * cycle existed and found nothing. The victim is decided by order, not by a race (measured in
 * lab-notes: 60 of 60 runs, also beside busy loops and with the closer sent late), and a deadlock
 * costs CLOSER, not the server's 1 s. The longest value stays far below the step timeout, so a
 * cycle closed by a statement that waited before (granted one lock, then waiting for another) is
 * still found by the database rather than cancelled as a hang.
 */
const DEADLOCK_TIMEOUT_CLOSER_MS = 10;
const DEADLOCK_TIMEOUT_STAGGER_MS = 500;

/** Bound on waiting for the ReadyForQuery that follows an error (it comes with it, in practice). */
const READY_WAIT_MS = 2000;

// Values are shown as the database's own text: node-postgres would turn a date into a JavaScript
// Date at local midnight (2008-12-22 became 2008-12-21T15:00:00.000Z under TZ=Asia/Tokyo), and
// intervals, JSON, arrays and bytea into objects of its own. Only numbers and booleans are parsed;
// bigint and numeric become numbers where that loses nothing (`1.50` stays the text `1.50`).
const BOOL = 16;
const NUMBERS = new Set([21 /* int2 */, 23 /* int4 */, 26 /* oid */, 700 /* float4 */, 701 /* float8 */]);
const EXACT_NUMBERS = new Set([20 /* int8 */, 1700 /* numeric */]);
const asText = (v: string): string => v;
const types = {
  getTypeParser(oid: number) {
    if (oid === BOOL) return (v: string) => v === 't';
    if (NUMBERS.has(oid)) return Number;
    if (EXACT_NUMBERS.has(oid)) return (v: string) => (String(Number(v)) === v ? Number(v) : v);
    return asText;
  },
};

export interface PostgresOptions {
  /** Set when lockrepro started the server; called by close(). */
  embedded?: { stop(): Promise<void> };
}

export async function connectPostgres(url: string, opts: PostgresOptions = {}): Promise<Dialect> {
  // The URL's password is already known to scrub(): connectDatabase registers it for every engine.
  const admin = await openClient(url, 'lockrepro');
  try {
    const version = String((await admin.query('SHOW server_version')).rows[0].server_version).split(' ')[0]!;
    // An ordinary role may neither SET nor RESET deadlock_timeout (context superuser).
    const canLower = await trySet(admin, `SET deadlock_timeout = '${DEADLOCK_TIMEOUT_CLOSER_MS}ms'`);
    if (canLower) await admin.query('RESET deadlock_timeout');
    const serverDefault = String((await admin.query('SHOW deadlock_timeout')).rows[0].deadlock_timeout);
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
    // The embedded cluster belongs to this run alone, so scratch databases in it are leftovers
    // of a run that was killed before it could drop them.
    if (opts.embedded) await dropLeftovers(admin);
    return new PostgresDialect(url, admin, info, canLower, opts.embedded);
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }
}

async function dropLeftovers(admin: pg.Client): Promise<void> {
  const left = await run(admin, "SELECT datname FROM pg_database WHERE datname LIKE 'lockrepro\\_%'");
  for (const r of left.rows) await run(admin, `DROP DATABASE IF EXISTS ${quoteIdent(String(r.datname))} WITH (FORCE)`);
}

async function openClient(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: applicationName,
    types,
    connectionTimeoutMillis: 10_000,
    // Timestamps with time zone are shown in UTC and in ISO style whatever the server's or the
    // machine's zone, so a transcript reads the same everywhere. A scenario may SET its own.
    options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres',
  });
  // A connection ended by the server (pg_terminate_backend) emits 'error'; the pending query
  // rejects as well, which is where it is handled.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new DatabaseUnavailableError(`cannot connect to ${redactUrl(url)}: ${scrub(describe(e))}`);
  }
  return client;
}

function describe(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return describe(e.errors[0]);
  return e instanceof Error ? e.message || e.name : String(e);
}

async function trySet(client: pg.Client, sql: string): Promise<boolean> {
  try {
    await client.query(sql);
    return true;
  } catch (e) {
    // 42501: a plain role may not set deadlock_timeout (context superuser).
    if (classifyPgError(e)?.code === '42501') return false;
    throw e;
  }
}

async function run(client: pg.Client, sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
  try {
    const res = await client.query({ text: sql, values: params as unknown[] });
    // A multi-statement string gives an array of results; the last one is the answer.
    const r = (Array.isArray(res) ? res[res.length - 1] : res) as pg.QueryResult;
    return {
      rows: r.rows ?? [],
      columns: (r.fields ?? []).map((f) => f.name),
      rowCount: r.rowCount ?? null,
      command: r.command ?? null,
    };
  } catch (e) {
    const db = classifyPgError(e);
    if (db) throw new QueryError(db);
    // Not the server's answer: the connection failed under the statement.
    throw new ConnectionLost(scrub(describe(e)));
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

class PostgresDialect implements Dialect {
  private readonly scratches = new Set<PostgresScratch>();

  constructor(
    private readonly url: string,
    private readonly admin: pg.Client,
    readonly info: DatabaseInfo,
    private readonly canLowerDeadlockTimeout: boolean,
    private readonly embedded?: { stop(): Promise<void> },
  ) {}

  placeholder(n: number): string {
    return `$${n}`;
  }

  async createScratch(label: string): Promise<Scratch> {
    const name = scratchName(label);
    await run(this.admin, `CREATE DATABASE ${quoteIdent(name)}`);
    const url = new URL(this.url);
    url.pathname = `/${name}`;
    let client: pg.Client | undefined;
    let monitorPid: number;
    try {
      client = await openClient(url.toString(), 'lockrepro-monitor');
      monitorPid = Number((await run(client, 'SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    } catch (e) {
      await client?.end().catch(() => undefined);
      await run(this.admin, `DROP DATABASE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
      throw e;
    }
    const scratch = new PostgresScratch(name, url.toString(), client, monitorPid, this.admin, this.canLowerDeadlockTimeout, async () => {
      this.scratches.delete(scratch);
      // WITH (FORCE) (PostgreSQL 13+) ends sessions still connected; older servers get them
      // terminated first.
      await run(this.admin, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(async () => {
        await run(this.admin, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
        await run(this.admin, `DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
      });
    });
    this.scratches.add(scratch);
    return scratch;
  }

  async close(): Promise<void> {
    for (const s of [...this.scratches]) await s.drop().catch(() => undefined);
    await this.admin.end().catch(() => undefined);
    await this.embedded?.stop();
  }
}

/** `lockrepro_<label>_<6 hex>`, within PostgreSQL's 63-byte identifier limit. */
function scratchName(label: string): string {
  const clean = label.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 40);
  return `lockrepro_${clean}_${randomBytes(3).toString('hex')}`;
}

interface WorkerConn {
  pid: number;
  /** From the last ReadyForQuery: `I` idle, `T` in a transaction block, `E` in a failed one. */
  txStatus?: string;
  /** ReadyForQuery messages seen. */
  ready: number;
  ended: boolean;
  /** Called at the next ReadyForQuery or when the connection ends (one statement at a time). */
  onReady: (() => void) | null;
  /** A statement was sent and has not finished: the scheduler only sends one while others wait. */
  inFlight: boolean;
  /** The session's deadlock_timeout as last set, or undefined when unknown. */
  deadlockTimeoutMs?: number;
  /** The scenario set deadlock_timeout itself: lockrepro leaves it alone from then on. */
  ownDeadlockTimeout: boolean;
}

/**
 * Whether a statement may set deadlock_timeout: SET [SESSION | LOCAL], RESET, set_config(), RESET
 * ALL. Read from the text (SHOW only reads it); a match inside a comment or a string only means
 * that lockrepro stops managing the value a statement early.
 */
function setsDeadlockTimeout(sql: string): boolean {
  return /\b(?:set|reset)\s+(?:session\s+|local\s+)?deadlock_timeout\b|\bset_config\s*\(\s*'deadlock_timeout'|\breset\s+all\b/i.test(sql);
}

class PostgresScratch implements Scratch {
  /** Open worker clients, their backend pids and what lockrepro knows of their state. */
  private readonly sessions = new Map<pg.Client, WorkerConn>();
  private dropped = false;
  /** Statements running on the monitor (setup, checks, teardown). */
  private adminBusy = 0;

  constructor(
    readonly name: string,
    private readonly url: string,
    private readonly admin: pg.Client,
    private readonly adminPid: number,
    /** The dialect's own connection (outside the scratch database), for ending backends. */
    private readonly control: pg.Client,
    private readonly lowerDeadlockTimeout: boolean,
    private readonly onDrop: () => Promise<void>,
  ) {}

  async exec(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    this.adminBusy++;
    try {
      return await run(this.admin, sql, params);
    } finally {
      this.adminBusy--;
    }
  }

  async openSession(worker: string, isolation: IsolationLevel): Promise<Session> {
    const client = await openClient(this.url, worker);
    const conn: WorkerConn = { pid: 0, inFlight: false, ready: 0, ended: false, onReady: null, ownDeadlockTimeout: false };
    const wake = () => {
      conn.onReady?.();
      conn.onReady = null;
    };
    this.sessions.set(client, conn);
    // node-postgres keeps the server's transaction status to itself; its connection emits it.
    (client as unknown as { connection: EventEmitter }).connection.on('readyForQuery', (m: { status?: string }) => {
      // A SET made inside a transaction is undone if it rolls back: when one ends, the session's
      // deadlock_timeout is unknown until set again.
      if (m.status === 'I' && conn.txStatus !== 'I') conn.deadlockTimeoutMs = undefined;
      conn.txStatus = m.status;
      conn.ready++;
      wake();
    });
    client.on('end', () => {
      conn.ended = true;
      wake();
    });
    await run(client, `SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ${ISOLATION_SQL[isolation]}`);
    conn.pid = Number((await run(client, 'SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    return {
      worker,
      backendId: conn.pid,
      query: async (sql, params) => {
        if (setsDeadlockTimeout(sql)) conn.ownDeadlockTimeout = true;
        if (this.lowerDeadlockTimeout && !conn.ownDeadlockTimeout) await this.staggerDeadlockTimeout(client, conn);
        conn.inFlight = true;
        const before = { status: conn.txStatus, ready: conn.ready };
        try {
          return await run(client, sql, params);
        } catch (e) {
          conn.deadlockTimeoutMs = undefined;
          if (e instanceof QueryError) {
            e.db.rolledBack = await this.undone(conn, before);
            if (e.db.kind === 'deadlock') e.db.deadlock = await this.deadlockReport(e.db.detail);
          }
          throw e;
        } finally {
          conn.inFlight = false;
        }
      },
      close: async () => {
        this.sessions.delete(client);
        await client.end().catch(() => undefined);
      },
    };
  }

  /**
   * What the server undid after an error, from its transaction status after it (ReadyForQuery,
   * which follows every error on a live connection; waited for if not read yet, bounded):
   * `E` the transaction block is aborted; `I` after `I` only the statement failed; `I` after a
   * block the transaction ended with it (a COMMIT that failed with 40001 rolled everything back).
   */
  private async undone(conn: WorkerConn, before: { status?: string; ready: number }): Promise<DbError['rolledBack']> {
    if (conn.ready === before.ready && !conn.ended) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        conn.onReady = resolve;
        timer = setTimeout(resolve, READY_WAIT_MS);
      });
      clearTimeout(timer);
      conn.onReady = null;
    }
    if (conn.ready === before.ready) return 'aborted'; // no answer (connection gone): assume the worst
    if (conn.txStatus === 'E') return 'aborted';
    return before.status === 'I' ? 'statement' : 'transaction';
  }

  /** The cycle from a 40P01's detail, with relation names in place of this run's OIDs. */
  private async deadlockReport(detail: string | undefined): Promise<DeadlockReport | undefined> {
    const report = parseDeadlockDetail(detail);
    const oids = report ? relationOids(report) : [];
    if (!report || oids.length === 0) return report;
    const names = new Map<number, string>();
    try {
      const res = await this.exec('SELECT oid::int AS oid, oid::regclass::text AS name FROM pg_class WHERE oid = ANY($1::oid[])', [oids]);
      for (const r of res.rows) names.set(Number(r.oid), String(r.name));
    } catch {
      // The report is shown as the server wrote it.
    }
    return nameRelations(report, names);
  }

  /** See DEADLOCK_TIMEOUT_CLOSER_MS. One extra round trip, only when the value must change. */
  private async staggerDeadlockTimeout(client: pg.Client, conn: WorkerConn): Promise<void> {
    let waiting = 0;
    for (const other of this.sessions.values()) if (other !== conn && other.inFlight) waiting++;
    const notWaiting = Math.max(0, this.sessions.size - 1 - waiting);
    const ms = DEADLOCK_TIMEOUT_CLOSER_MS + notWaiting * DEADLOCK_TIMEOUT_STAGGER_MS;
    if (conn.deadlockTimeoutMs === ms) return;
    try {
      await run(client, `SET deadlock_timeout = '${ms}ms'`);
      conn.deadlockTimeoutMs = ms;
    } catch {
      // In an aborted transaction every statement but ROLLBACK fails; the step itself will say so.
      conn.deadlockTimeoutMs = undefined;
    }
  }

  async lockWaits(backendIds: readonly number[]): Promise<Map<number, number[]>> {
    // pg_blocking_pids is computed from the lock manager at call time (no caching, ~0.15 ms).
    const res = await run(
      this.admin,
      // One row per (waiter, blocker); values are text here (see `types`), so no array to parse.
      'SELECT pid, b AS blocker FROM unnest($1::int[]) AS pid, LATERAL unnest(pg_blocking_pids(pid)) AS b',
      [backendIds],
    );
    const waits = new Map<number, number[]>();
    for (const r of res.rows) {
      const pid = Number(r.pid);
      waits.set(pid, [...(waits.get(pid) ?? []), Number(r.blocker)]);
    }
    return waits;
  }

  async cancel(backendId: number): Promise<void> {
    await run(this.admin, 'SELECT pg_cancel_backend($1)', [backendId]);
  }

  async terminate(backendId: number): Promise<void> {
    await run(this.admin, 'SELECT pg_terminate_backend($1)', [backendId]);
  }

  async drop(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    // A backend blocked on a lock does not read its socket, so a polite end() could wait forever:
    // end such sessions on the server first. The monitor too if a statement still runs on it (a
    // setup statement interrupted by Ctrl-C); this from the control connection, never busy here.
    // Only those: DROP DATABASE waits in 100 ms steps for terminated backends to exit, while a
    // polite end() of an idle connection is over at once.
    const pids = [...this.sessions.values()].map((c) => c.pid);
    if (this.adminBusy > 0) pids.push(this.adminPid);
    if (pids.length > 0) await run(this.control, 'SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p', [pids]).catch(() => undefined);
    for (const c of this.sessions.keys()) await c.end().catch(() => undefined);
    this.sessions.clear();
    await this.admin.end().catch(() => undefined);
    await this.onDrop();
  }
}
