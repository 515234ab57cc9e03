/**
 * The one interface between the engine and a database. Everything that differs between engines
 * (how to begin at an isolation level, what a backend id is, who blocks whom, how errors are
 * classified, how a scratch database is made) lives behind it, in one folder per engine under
 * src/dialect/. Nothing outside those folders asks which engine it is talking to.
 */

import type { EngineName, ErrorKind, IsolationLevel, LockKind } from '../vocabulary.js';

/** A database error, classified by code (SQLSTATE or errno), never by message text. */
export interface DbError {
  /** SQLSTATE on PostgreSQL ("40P01"), errno as a string on MySQL/MariaDB ("1213"). */
  code: string;
  kind: ErrorKind;
  /** The server's message, with anything that could hold a password removed. */
  message: string;
  /**
   * What the server did to the open transaction: `transaction` (rolled back, as after a MySQL
   * deadlock or a failed PostgreSQL COMMIT), `statement` (only the statement was undone and any
   * transaction goes on, as after MySQL's lock wait timeout 1205), `aborted` (PostgreSQL, inside
   * a transaction block: the server accepts only ROLLBACK or ROLLBACK TO SAVEPOINT until it
   * ends), or `none` (the server undid nothing: lockrepro's own optimistic-lock check, `rows`).
   */
  rolledBack: 'transaction' | 'statement' | 'aborted' | 'none';
  /** Server detail, if any (PostgreSQL's `detail`). Holds PIDs, so shown only with --verbose. */
  detail?: string;
  /** Where the server was when it failed (PostgreSQL's `where`), kept for a deadlock: the lock waited for. */
  context?: string;
  /**
   * The statement itself is wrong (a syntax error, an undefined table, column or function): the
   * scenario's fault, never a race's. Exit 2, like invalid setup SQL.
   */
  invalidSql?: boolean;
  /** The server ended the connection (shutdown, terminated backend): the database's trouble, exit 3. */
  connectionLost?: boolean;
  /** For a deadlock: the database's own report of the cycle it broke, when it gives one. */
  deadlock?: DeadlockReport;
}

/**
 * A deadlock as the database reported it (PostgreSQL's error detail, InnoDB's LATEST DETECTED
 * DEADLOCK), in backend ids; the engine puts worker names in their place.
 */
export interface DeadlockReport {
  /** Who waited for whom, in the report's order; `lock` is what was waited for, as the server says it. */
  waits: { waiter: number; holders: number[]; lock: string | null; waitLock?: WaitLock | null }[];
  /** The server's own text. Backend ids in it are written `{{id}}`, so a reporter can name them. */
  text: string;
}

/**
 * The lock a waiting backend waits for, in words that are the same every run: no backend, page,
 * transaction or space ids (`steps[].lock` of the JSON contract).
 */
export interface WaitLock {
  kind: LockKind;
  /** The table it is on, without schema or database (those of the scratch database change every run). */
  table: string | null;
  /** What of it: the row's key (`id=2`), the lock mode, the advisory key; '' when unknown. */
  detail: string;
}

/** One waiting backend, as the monitor saw it in one poll. */
export interface LockWait {
  /** The backends that block it; empty means "waiting on a lock, holder unknown". */
  holders: number[];
  /** What it waits for, read in the same poll; null when the engine could not tell. */
  lock: WaitLock | null;
}

/** Thrown (rejected) by {@link Session.query} for any error the server reports. */
export class QueryError extends Error {
  constructor(readonly db: DbError) {
    super(db.message);
    this.name = 'QueryError';
  }
}

export interface QueryResult {
  /** Rows as plain objects keyed by column name; empty for statements that return none. */
  rows: Record<string, unknown>[];
  /** Column names in result order (empty when the statement returns no result set). */
  columns: string[];
  /** Rows affected (INSERT/UPDATE/DELETE) or returned, as the driver reports it; null if unknown. */
  rowCount: number | null;
  /** The command tag when the driver knows it (PostgreSQL: "UPDATE", "SELECT", ...). */
  command: string | null;
}

/** One worker's connection. `query` runs exactly one statement. */
export interface Session {
  readonly worker: string;
  /** The server's id for this connection: PostgreSQL backend pid, MySQL thread/connection id. */
  readonly backendId: number;
  /**
   * Run one statement. SQL uses the dialect's own placeholders (see {@link Dialect.placeholder}),
   * with `params` bound by the driver, never pasted into the text.
   * Rejects with {@link QueryError} for server errors; anything else (connection lost) is a plain Error.
   */
  query(sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  close(): Promise<void>;
}

/** How a worker's session is opened. */
export interface SessionOptions {
  /**
   * Stress mode: the workers' statements are sent with no schedule and no monitor, truly at once.
   * An engine whose sessions would otherwise share this thread (SQLite) gives each its own.
   */
  concurrent?: boolean;
  /**
   * How many sessions the run opens, this one included: lets an engine give a session at connect
   * the settings it would otherwise set before its first statement (PostgreSQL's deadlock_timeout).
   */
  workers?: number;
  /**
   * The run's step timeout, so that the server itself stops the statements of a run that died
   * (killed, or its network gone) instead of running them to their end: the server's own limit
   * is set well above it, never below.
   */
  stepTimeoutMs?: number;
}

/** A database (or schema) that exists only for one variant run. */
export interface Scratch {
  /** Its name on the server, e.g. `lockrepro_ab_ba_deadlock_3f9a2c`. */
  readonly name: string;
  /** Run setup / check / teardown SQL on an admin connection inside the scratch database. */
  exec(sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  /**
   * Open one connection for a worker, already set to `isolation` for its transactions, tagged with
   * the worker's name where the engine allows (application_name), and with engine settings that make
   * runs fast and repeatable (e.g. a lowered deadlock_timeout where the session may set it).
   */
  openSession(worker: string, isolation: IsolationLevel, opts?: SessionOptions): Promise<Session>;
  /**
   * Ask the database, on a separate monitor connection, which of these backends wait on a lock.
   * The answer maps each *waiting* backend id to the backend ids that block it (an empty list means
   * "waiting on a lock, holder unknown") and the lock it waits for; backends not waiting are
   * absent. Must reflect the state at the moment of the call: no cached views (see lab-notes on
   * MariaDB's INNODB_* cache).
   */
  lockWaits(backendIds: readonly number[]): Promise<Map<number, LockWait>>;
  /**
   * Only for an engine where nothing but the client's own timeout ends a lock wait (SQLite: no
   * server, no deadlock detector; a busy handler polls until busy_timeout). The scheduler calls
   * it when every unfinished worker waits: end this backend's wait now, as its timeout would (the
   * statement fails with the engine's timeout error). True when a wait ended (the engine may end
   * another one first, when it finds that one was not really waiting), false when none did.
   * Without it, the scheduler waits the step timeout and reports a hang.
   */
  timeOutWait?(backendId: number): boolean;
  /** Cancel the statement running on a backend (pg_cancel_backend / KILL QUERY). */
  cancel(backendId: number): Promise<void>;
  /** End a backend's connection (pg_terminate_backend / KILL). */
  terminate(backendId: number): Promise<void>;
  /**
   * Make the scratch database again what it was when created, for another run, keeping its
   * connection: nothing a run made or set in it (objects, data, settings, session state of the
   * admin connection, prepared transactions, advisory locks) is left. Call only between runs, with
   * every worker session closed. Resolves false when the dialect cannot vouch for a clean state;
   * the caller then drops it and creates a new one. Optional: without it every run gets a new one.
   */
  reset?(): Promise<boolean>;
  /** Close every connection it opened and drop the scratch database. Safe to call twice. */
  drop(): Promise<void>;
}

/** Facts about the server shown in reports and `--json` (`database`). */
export interface DatabaseInfo {
  dialect: EngineName;
  /** Server version, e.g. "18.4" or "10.11.19". */
  version: string;
  embedded: boolean;
  /** Engine settings that shape the results (e.g. deadlock_timeout), as the sessions see them. */
  settings: Record<string, string>;
  /** Isolation levels the engine accepts but runs as another one. */
  runsAs?: Partial<Record<IsolationLevel, IsolationLevel>>;
}

/** A connected server. Created by src/dialect/connect.ts from a URL (or the embedded default). */
export interface Dialect {
  readonly info: DatabaseInfo;
  /**
   * The placeholder for the n-th (1-based) bound parameter: `$1` on PostgreSQL, `?` on MySQL.
   * The engine rewrites a step's `:name` references with it.
   */
  placeholder(n: number): string;
  /** Create a fresh scratch database for one variant run. `label` is a hint for its name. */
  createScratch(label: string): Promise<Scratch>;
  /** Drop every scratch database still open, close connections, stop an embedded server. */
  close(): Promise<void>;
}
