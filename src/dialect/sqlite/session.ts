/**
 * One worker's SQLite connection. It runs a statement once, at busy_timeout 0 (or a probe's), and
 * says what SQLite answered; the scratch (scratch.ts) decides what a real application would see.
 * It also keeps which lock its open transaction holds, since SQLite cannot be asked who holds
 * what: a write inside a transaction holds the write lock (RESERVED) until it ends, a read holds a
 * read lock (SHARED).
 */
import type { QueryResult, Session } from '../../engine/dialect.js';
import { classifySqliteError } from './errors.js';
import { openDb, sqliteCode, type SqliteDb } from './driver.js';

export type Attempt = { ok: QueryResult } | { busy: string } | { error: ReturnType<typeof classifySqliteError> };

export type Holds = 'none' | 'read' | 'write';

/** What a statement is, by its first word(s) (comments skipped): enough to name lock holders. */
export function statementKind(sql: string): 'none' | 'begin' | 'begin-write' | 'commit' | 'control' | 'other' {
  const text = sql
    .replace(/--[^\n]*|\/\*[\s\S]*?(\*\/|$)/g, ' ')
    .trim()
    .replace(/;\s*$/, '');
  if (text === '') return 'none';
  if (/^begin\s+(immediate|exclusive)\b/i.test(text)) return 'begin-write';
  if (/^begin\b/i.test(text)) return 'begin';
  if (/^(commit|end)\b/i.test(text)) return 'commit';
  if (/^(savepoint|release|rollback)\b/i.test(text)) return 'control';
  return 'other';
}

export class SqliteSession implements Session {
  holds: Holds = 'none';
  closed = false;
  private readonly db: SqliteDb;

  constructor(
    readonly worker: string,
    readonly backendId: number,
    file: string,
    private readonly submit: (s: SqliteSession, sql: string, params: readonly unknown[]) => Promise<QueryResult>,
    private readonly onClose: (s: SqliteSession) => void,
  ) {
    this.db = openDb(file);
  }

  query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    if (this.closed) return Promise.reject(new Error('the connection is closed'));
    return this.submit(this, sql, params);
  }

  /** Run once. A probe runs at busy_timeout `timeoutMs` and sets it back to 0. */
  attempt(sql: string, params: readonly unknown[], timeoutMs = 0): Attempt {
    if (timeoutMs > 0) this.db.pragma(`busy_timeout = ${timeoutMs}`);
    try {
      const { result, readonly } = runStatement(this.db, sql, params);
      this.track(sql, readonly);
      return { ok: result };
    } catch (e) {
      const code = sqliteCode(e);
      if (code === null) throw e;
      const wasOpen = this.holds !== 'none' || this.db.inTransaction;
      this.track(sql, null);
      // Every SQLITE_BUSY measured left the data and the transaction as they were, so a retry
      // is free of side effects (sqlite-notes); the docs allow BUSY to end a transaction, hence
      // the inTransaction check in track().
      if (code.startsWith('SQLITE_BUSY')) return { busy: code };
      const undone = wasOpen && !this.db.inTransaction ? 'transaction' : 'statement';
      return { error: classifySqliteError(code, (e as Error).message, undone) };
    } finally {
      if (timeoutMs > 0) this.db.pragma('busy_timeout = 0');
    }
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.holds = 'none';
      this.db.close();
      this.onClose(this);
    }
    return Promise.resolve();
  }

  /** After a statement: `readonly` as SQLite says it (sqlite3_stmt_readonly), null after an error. */
  private track(sql: string, readonly: boolean | null): void {
    if (!this.db.inTransaction) {
      this.holds = 'none';
      return;
    }
    if (readonly === null) return;
    const kind = statementKind(sql);
    if (kind === 'begin-write' || (kind === 'other' && !readonly)) this.holds = 'write';
    // Approximate: a read of no table (SELECT 1) takes no read lock, but is counted as one.
    else if (kind === 'other' && this.holds === 'none') this.holds = 'read';
  }
}

/** One statement (never a multi-statement exec), its rows when it returns any. */
export function runStatement(db: SqliteDb, sql: string, params: readonly unknown[]): { result: QueryResult; readonly: boolean } {
  // A statement of comments only does nothing, as on PostgreSQL: a scenario's SQLite text uses it
  // for a step SQLite has no statement for (Django's autocommit has no BEGIN).
  if (statementKind(sql) === 'none') return { result: { rows: [], columns: [], rowCount: null, command: null }, readonly: true };
  const stmt = db.prepare(sql);
  const values = params.map(bindable);
  if (stmt.reader) {
    const rows = stmt
      .safeIntegers(true)
      .all(...values)
      .map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, asValue(v)])));
    return {
      result: { rows, columns: stmt.columns().map((c) => c.name), rowCount: rows.length, command: 'SELECT' },
      readonly: stmt.readonly,
    };
  }
  const info = stmt.run(...values);
  // sqlite3_changes() keeps the count of the last INSERT, UPDATE or DELETE: after any other
  // statement it is stale.
  const changes = /^\s*(insert|update|delete|replace)\b/i.test(sql) ? info.changes : null;
  return { result: { rows: [], columns: [], rowCount: changes, command: null }, readonly: stmt.readonly };
}

/**
 * A value as SQLite holds it: an integer beyond 2^53 as its decimal text (a JavaScript number
 * would round it, and node-postgres gives bigint as text too), a blob as `\x` hex (PostgreSQL's
 * text for bytea).
 */
function asValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return v;
}

/** SQLite binds numbers, strings, bigints, buffers and null; a saved boolean becomes 0 or 1. */
function bindable(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v === undefined ? null : v;
}
