/**
 * One scratch database (or schema, `--scratch schema`) on PostgreSQL: the worker sessions
 * (application_name = worker), the admin connection that runs setup and checks and is also the
 * monitor, and its drop.
 */
import type pg from 'pg';
import type { EventEmitter } from 'node:events';
import type { DbError, DeadlockReport, LockWait, QueryResult, Scratch, Session, SessionOptions } from '../../engine/dialect.js';
import { QueryError } from '../../engine/dialect.js';
import { ISOLATION_SQL, type IsolationLevel } from '../../vocabulary.js';
import { settlesWithin } from '../../util/async.js';
import { serverStatementLimitMs } from '../scratch-name.js';
import { backendPid, openClient, run } from './client.js';
import { deadlockTimeoutFor, setsDeadlockTimeout } from './deadlock-timeout.js';
import { nameRelations, parseDeadlockDetail, relationOids } from './errors.js';
import { fingerprint, resetDatabase } from './reset.js';
import { PgLockWaits } from './lock-waits.js';

/** Bound on waiting for the ReadyForQuery that follows an error (it comes with it, in practice). */
const READY_WAIT_MS = 2000;

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
  /** lockrepro set deadlock_timeout inside the open transaction: a rollback would undo it. */
  setInTransaction: boolean;
}

/** Statements that never wait for a lock: no deadlock_timeout to set before them. */
const NEVER_WAITS = /^\s*(?:rollback|abort)(?:\s+(?:work|transaction))?\s*;?\s*$/i;

export class PostgresScratch implements Scratch {
  /** Open worker clients, their backend pids and what lockrepro knows of their state. */
  private readonly sessions = new Map<pg.Client, WorkerConn>();
  private dropped = false;
  /** Statements running on the monitor (setup, checks, teardown). */
  private adminBusy = 0;
  private readonly monitor: PgLockWaits;
  /** The database as created (reset.ts), taken by {@link markNew}; without it no reset. */
  private baseline: string | undefined;
  /** Sessions closed and still saying goodbye to the server. */
  private readonly ending = new Set<Promise<unknown>>();

  constructor(
    readonly name: string,
    private readonly url: string,
    /** Startup settings of every session (see client_connection_check_interval in index.ts). */
    private readonly sessionOptions: string,
    private readonly admin: pg.Client,
    private readonly adminPid: number,
    /** The dialect's own connection (outside the scratch database), for ending backends. */
    private readonly control: pg.Client,
    private readonly lowerDeadlockTimeout: boolean,
    /**
     * Whether the drop must wait for every session to be gone first: DROP DATABASE waits 100 ms
     * for a backend still on its way out; DROP SCHEMA only for locks, which an ended session has
     * let go.
     */
    private readonly dropAfterSessionsGone: boolean,
    private readonly onDrop: () => Promise<void>,
  ) {
    this.monitor = new PgLockWaits(admin);
  }

  async exec(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    this.adminBusy++;
    try {
      return await run(this.admin, sql, params);
    } finally {
      this.adminBusy--;
    }
  }

  async openSession(worker: string, isolation: IsolationLevel, limits?: SessionOptions): Promise<Session> {
    // A statement the client check cannot stop (the network gone without a word) ends by itself,
    // well after lockrepro's own step timeout. A scenario's own SET statement_timeout stands.
    const limit = limits?.stepTimeoutMs ? ` -c statement_timeout=${serverStatementLimitMs(limits.stepTimeoutMs)}` : '';
    // Given at connect, saving a round trip each: the isolation level (as SET SESSION
    // CHARACTERISTICS would; a backslash keeps the level's space in the startup options) and
    // deadlock_timeout as it must be for the first statement, sent while nobody waits.
    const level = ` -c default_transaction_isolation=${ISOLATION_SQL[isolation].toLowerCase().replace(' ', '\\ ')}`;
    const firstTimeout = this.lowerDeadlockTimeout && limits?.workers ? deadlockTimeoutFor(limits.workers, 0) : undefined;
    const timeout = firstTimeout === undefined ? '' : ` -c deadlock_timeout=${firstTimeout}ms`;
    const client = await openClient(this.url, worker, `${this.sessionOptions}${limit}${level}${timeout}`);
    const conn: WorkerConn = {
      pid: backendPid(client),
      // Idle: the connection's first ReadyForQuery came before this listener.
      txStatus: 'I',
      inFlight: false,
      ready: 0,
      ended: false,
      onReady: null,
      ownDeadlockTimeout: false,
      setInTransaction: false,
      deadlockTimeoutMs: firstTimeout,
    };
    const wake = () => {
      conn.onReady?.();
      conn.onReady = null;
    };
    this.sessions.set(client, conn);
    // node-postgres keeps the server's transaction status to itself; its connection emits it.
    (client as unknown as { connection: EventEmitter }).connection.on('readyForQuery', (m: { status?: string }) => {
      // A SET made inside a transaction is undone if it rolls back: when one ends, the session's
      // deadlock_timeout is unknown until set again.
      if (m.status === 'I' && conn.txStatus !== 'I' && conn.setInTransaction) conn.deadlockTimeoutMs = undefined;
      if (m.status === 'I') conn.setInTransaction = false;
      conn.txStatus = m.status;
      conn.ready++;
      wake();
    });
    client.on('end', () => {
      conn.ended = true;
      wake();
    });
    return {
      worker,
      backendId: conn.pid,
      query: async (sql, params) => {
        if (setsDeadlockTimeout(sql)) conn.ownDeadlockTimeout = true;
        if (this.lowerDeadlockTimeout && !conn.ownDeadlockTimeout && !NEVER_WAITS.test(sql))
          await this.staggerDeadlockTimeout(client, conn);
        conn.inFlight = true;
        const before = { status: conn.txStatus, ready: conn.ready };
        try {
          return await run(client, sql, params);
        } catch (e) {
          conn.deadlockTimeoutMs = undefined;
          if (e instanceof QueryError) {
            e.db.rolledBack = await this.undone(conn, before);
            if (e.db.kind === 'deadlock') e.db.deadlock = await this.deadlockReport(e.db.detail, e.db.context, conn.pid);
          }
          throw e;
        } finally {
          conn.inFlight = false;
        }
      },
      close: async () => {
        // Asked to end, not waited for: the server's goodbye takes a round trip and the backend's
        // exit, and nothing after a run needs the session gone but dropping a database (drop()).
        this.sessions.delete(client);
        const ended: Promise<unknown> = client
          .end()
          .catch(() => undefined)
          .then(() => this.ending.delete(ended));
        this.ending.add(ended);
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
      const ready = new Promise<void>((resolve) => {
        conn.onReady = resolve;
      });
      await settlesWithin([ready], READY_WAIT_MS);
      conn.onReady = null;
    }
    if (conn.ready === before.ready) return 'aborted'; // no answer (connection gone): assume the worst
    if (conn.txStatus === 'E') return 'aborted';
    return before.status === 'I' ? 'statement' : 'transaction';
  }

  /**
   * The cycle from a 40P01's detail, with relation names in place of this run's OIDs, and the
   * lock the victim (`pid`) waited for.
   */
  private async deadlockReport(detail: string | undefined, context: string | undefined, pid: number): Promise<DeadlockReport | undefined> {
    const report = await this.namedReport(detail);
    const mine = report?.waits.find((w) => w.waiter === pid);
    if (mine) mine.waitLock = await this.monitor.victimLock(mine.lock, context);
    return report;
  }

  private async namedReport(detail: string | undefined): Promise<DeadlockReport | undefined> {
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
    const ms = deadlockTimeoutFor(this.sessions.size, waiting);
    if (conn.deadlockTimeoutMs === ms) return;
    try {
      await run(client, `SET deadlock_timeout = '${ms}ms'`);
      conn.deadlockTimeoutMs = ms;
      if (conn.txStatus !== 'I') conn.setInTransaction = true;
    } catch {
      // In an aborted transaction every statement but ROLLBACK fails; the step itself will say so.
      conn.deadlockTimeoutMs = undefined;
    }
  }

  /** Take the fingerprint a reset must come back to: call while the database is new. */
  async markNew(): Promise<void> {
    this.baseline = await fingerprint(this.admin);
  }

  async reset(): Promise<boolean> {
    // Only between runs: every worker session closed, nothing running on the admin connection.
    if (this.dropped || this.baseline === undefined || this.sessions.size > 0 || this.adminBusy > 0) return false;
    this.adminBusy++;
    try {
      return await resetDatabase(this.admin, this.baseline);
    } catch {
      return false;
    } finally {
      this.adminBusy--;
    }
  }

  lockWaits(backendIds: readonly number[]): Promise<Map<number, LockWait>> {
    // pg_blocking_pids and pg_locks are read from the lock manager at call time (no caching).
    return this.monitor.waits(backendIds);
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
    if (pids.length > 0)
      await run(this.control, 'SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p', [pids]).catch(() => undefined);
    const ending = [...this.ending, ...[...this.sessions.keys(), this.admin].map((c) => c.end().catch(() => undefined))];
    this.sessions.clear();
    if (this.dropAfterSessionsGone) await Promise.all(ending);
    try {
      await this.onDrop();
    } finally {
      await Promise.all(ending);
    }
  }
}
