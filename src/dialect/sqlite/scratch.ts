/**
 * A scratch database file for one variant run, and SQLite's lock waits as a real application
 * would meet them, never blocking the event loop for a wait (only for a probe, below: at most
 * PROBE_MS, once per statement that meets a lock).
 *
 * SQLite has no server and no lock queue: a connection that meets a lock gets SQLITE_BUSY, and a
 * real application's busy handler sleeps and tries again until busy_timeout. lockrepro runs every
 * statement at busy_timeout 0. On SQLITE_BUSY it probes once with a short busy_timeout: a busy
 * handler SQLite calls sleeps the whole timeout, one it skips answers at once (measured: under
 * 0.11 ms against at least the timeout; sqlite-notes). Skipped means a real application fails at
 * once whatever its timeout: an error (errors.ts, busyAtOnce). Called means it would wait: the
 * statement is parked, its promise pending, and retried after every other statement that
 * finishes, in the order the waits began (the first to wait gets the lock first; real waiters
 * poll, so with three or more the order is timing's). Nothing else can end such a wait, so when
 * every unfinished worker waits the scheduler asks {@link SqliteScratch.timeOutWait} to end the
 * longest one as its busy_timeout would.
 */
import { rmSync } from 'node:fs';
import type { DbError, LockWait, QueryResult, Scratch, Session, SessionOptions } from '../../engine/dialect.js';
import { QueryError } from '../../engine/dialect.js';
import type { IsolationLevel } from '../../vocabulary.js';
import { busyAtOnce, busyTimeout, interrupted } from './errors.js';
import { runStatement, SqliteSession, type Attempt } from './session.js';
import { openDb, sqliteCode, type SqliteDb } from './driver.js';
import { ThreadSession } from './thread-session.js';

/**
 * The probe's busy_timeout. A called handler sleeps all of it inside one synchronous call, so it
 * is kept short; a skipped one answers in well under a millisecond, so 25 ms leaves a wide margin
 * on a loaded machine.
 */
export const PROBE_MS = 25;

interface Waiter {
  readonly session: SqliteSession;
  readonly sql: string;
  readonly params: readonly unknown[];
  readonly resolve: (r: QueryResult) => void;
  readonly reject: (e: unknown) => void;
}

export class SqliteScratch implements Scratch {
  private readonly admin: SqliteDb;
  private readonly sessions: SqliteSession[] = [];
  private readonly threads: ThreadSession[] = [];
  private readonly waiting: Waiter[] = [];
  private nextId = 1;
  private dropped = false;

  constructor(
    readonly name: string,
    private readonly file: string,
    private readonly wal: boolean,
    private readonly onDrop: () => void,
  ) {
    this.admin = openDb(file);
    // journal_mode=WAL is kept in the file, so every later connection uses it.
    if (wal) this.admin.pragma('journal_mode = WAL');
  }

  async exec(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    try {
      return runStatement(this.admin, sql, params).result;
    } catch (e) {
      const code = sqliteCode(e);
      if (code === null) throw e;
      throw new QueryError({
        code,
        kind: 'other',
        message: (e as Error).message,
        rolledBack: 'statement',
        ...(code === 'SQLITE_ERROR' ? { invalidSql: true } : {}),
      });
    }
  }

  /**
   * SQLite has no isolation levels: every transaction is serializable (DatabaseInfo.runsAs says
   * so). Stress mode's sessions each get a thread and a real busy_timeout (thread-session.ts).
   */
  async openSession(worker: string, _isolation: IsolationLevel, opts: SessionOptions = {}): Promise<Session> {
    if (opts.concurrent) {
      const t = await ThreadSession.open(worker, this.nextId++, this.wal, this.file);
      this.threads.push(t);
      return t;
    }
    const s = new SqliteSession(
      worker,
      this.nextId++,
      this.file,
      (x, sql, p) => this.submit(x, sql, p),
      (x) => this.closed(x),
    );
    this.sessions.push(s);
    return s;
  }

  async lockWaits(backendIds: readonly number[]): Promise<Map<number, LockWait>> {
    const out = new Map<number, LockWait>();
    for (const w of this.waiting) if (backendIds.includes(w.session.backendId)) out.set(w.session.backendId, this.lockWait(w));
    return out;
  }

  /**
   * Who a waiting statement waits for, and on what: the worker holding the database's one write
   * lock; when that is the waiter itself (its COMMIT, or an autocommit write, in rollback-journal
   * mode), the readers whose read locks it needs gone. SQLite locks the whole file: no table.
   */
  private lockWait(w: Waiter): LockWait {
    const others = this.sessions.filter((s) => s !== w.session);
    const writers = others.filter((s) => s.holds === 'write');
    if (writers.length > 0 || this.wal)
      return {
        holders: writers.map((s) => s.backendId),
        lock: { kind: 'other', table: null, detail: "RESERVED, the database's write lock" },
      };
    return {
      holders: others.filter((s) => s.holds === 'read').map((s) => s.backendId),
      lock: { kind: 'other', table: null, detail: "SHARED, the readers' locks on the database" },
    };
  }

  async cancel(backendId: number): Promise<void> {
    this.endWait(backendId, interrupted());
  }

  /** A thread's statement cannot be interrupted; it ends by itself within its busy_timeout. */
  async terminate(backendId: number): Promise<void> {
    this.endWait(backendId, interrupted());
    await this.sessions.find((s) => s.backendId === backendId)?.close();
    await this.threads.find((s) => s.backendId === backendId)?.terminate();
  }

  /**
   * End a backend's wait as its busy_timeout would: SQLITE_BUSY, kind lock-timeout. Called when
   * every unfinished worker waits, for the one that waited longest (equal timeouts run out in the
   * order the waits began). False when the backend does not wait.
   *
   * First every waiter is probed again: a machine that stalled lockrepro for the whole probe would
   * have parked a statement SQLite answers at once, which would then look like this stall. Such a
   * statement gets its real answer instead (true: a wait ended).
   */
  timeOutWait(backendId: number): boolean {
    for (const w of [...this.waiting]) {
      const a = this.probe(w.session, w.sql, w.params);
      if (a === null) continue;
      this.waiting.splice(this.waiting.indexOf(w), 1);
      this.settle(w.session, a, w.resolve, w.reject);
      this.retryWaiting();
      return true;
    }
    return this.endWait(backendId, busyTimeout());
  }

  async drop(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    try {
      for (const s of [...this.sessions]) await s.close().catch(() => undefined);
      for (const t of this.threads) await t.terminate().catch(() => undefined);
    } finally {
      // The file goes whatever a session did on its way out.
      try {
        this.admin.close();
      } finally {
        for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(this.file + suffix, { force: true });
        this.onDrop();
      }
    }
  }

  private submit(session: SqliteSession, sql: string, params: readonly unknown[]): Promise<QueryResult> {
    return new Promise((resolve, reject) => {
      let a: Attempt | null = session.attempt(sql, params);
      if ('busy' in a && a.busy !== 'SQLITE_BUSY_SNAPSHOT') a = this.probe(session, sql, params);
      if (a === null) {
        this.waiting.push({ session, sql, params, resolve, reject });
        return;
      }
      this.settle(session, a, resolve, reject);
      this.retryWaiting();
    });
  }

  /**
   * Run a statement that got SQLITE_BUSY once more at busy_timeout PROBE_MS: null when SQLite
   * called the busy handler (a real application would wait), else its answer. Nothing else runs
   * during the probe, so nothing can free the lock: a called handler sleeps the whole timeout and
   * fails anyway.
   */
  private probe(session: SqliteSession, sql: string, params: readonly unknown[]): Attempt | null {
    const t0 = performance.now();
    const a = session.attempt(sql, params, PROBE_MS);
    return 'busy' in a && a.busy !== 'SQLITE_BUSY_SNAPSHOT' && performance.now() - t0 >= PROBE_MS ? null : a;
  }

  private settle(session: SqliteSession, a: Attempt, resolve: (r: QueryResult) => void, reject: (e: unknown) => void): void {
    if ('ok' in a) resolve(a.ok);
    else if ('error' in a) reject(new QueryError(a.error));
    else {
      const writer = this.sessions.find((s) => s !== session && s.holds === 'write');
      reject(new QueryError(busyAtOnce(a.busy, this.wal, session.backendId, writer?.backendId ?? null)));
    }
  }

  /**
   * Another statement finished: try every waiting one again, first waiter first, and start over
   * after each that goes through (it changed the locks). One still BUSY keeps waiting: its
   * connection's state, which decides whether the handler is called, has not changed.
   */
  private retryWaiting(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const w = this.waiting[i]!;
      const a = w.session.attempt(w.sql, w.params);
      if ('busy' in a && a.busy !== 'SQLITE_BUSY_SNAPSHOT') {
        i += 1;
        continue;
      }
      this.waiting.splice(i, 1);
      this.settle(w.session, a, w.resolve, w.reject);
      i = 0;
    }
  }

  private endWait(backendId: number, error: DbError): boolean {
    const i = this.waiting.findIndex((w) => w.session.backendId === backendId);
    if (i < 0) return false;
    const [w] = this.waiting.splice(i, 1);
    w!.reject(new QueryError(error));
    return true;
  }

  private closed(s: SqliteSession): void {
    const i = this.sessions.indexOf(s);
    if (i >= 0) this.sessions.splice(i, 1);
    const w = this.waiting.findIndex((x) => x.session === s);
    if (w >= 0) this.waiting.splice(w, 1)[0]!.reject(new Error('the connection is closed'));
    // Closing rolls back its transaction and frees its locks.
    if (!this.dropped) this.retryWaiting();
  }
}
