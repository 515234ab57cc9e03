/**
 * The part of better-sqlite3 lockrepro uses, typed here (as kysely does) so that nothing outside
 * this folder loads the driver. better-sqlite3 is synchronous: a call returns when the statement
 * has finished or SQLite has answered SQLITE_BUSY.
 */
import { createRequire } from 'node:module';

export interface SqliteStatement {
  /** The statement returns rows (SELECT, RETURNING, most PRAGMAs). */
  readonly reader: boolean;
  /** sqlite3_stmt_readonly: the statement writes nothing (BEGIN, COMMIT and SAVEPOINT count as read-only). */
  readonly readonly: boolean;
  /** Integers come back as BigInt, so none beyond 2^53 is rounded. */
  safeIntegers(on: boolean): SqliteStatement;
  all(...params: unknown[]): Record<string, unknown>[];
  run(...params: unknown[]): { changes: number };
  columns(): { name: string }[];
}

export interface SqliteDb {
  /** An explicit transaction is open (sqlite3_get_autocommit is 0). */
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): void;
}

type Driver = new (file: string, options?: { timeout?: number }) => SqliteDb;

let driver: Driver | undefined;

/** Load better-sqlite3 (a native module: a failed build shows here, not at import time). */
export function loadDriver(): void {
  driver ??= createRequire(import.meta.url)('better-sqlite3') as Driver;
}

/**
 * A connection with busy_timeout 0: SQLITE_BUSY comes back at once, and the session decides (by a
 * short probe, see scratch.ts) whether a real application would have waited.
 */
export function openDb(file: string): SqliteDb {
  loadDriver();
  return new driver!(file, { timeout: 0 });
}

/** better-sqlite3's SqliteError carries SQLite's extended result code name, e.g. SQLITE_BUSY_SNAPSHOT. */
export function sqliteCode(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : null;
}
