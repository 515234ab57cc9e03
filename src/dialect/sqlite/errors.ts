/**
 * SQLite errors → {@link DbError}, by extended result code (better-sqlite3's `err.code`, e.g.
 * SQLITE_CONSTRAINT_UNIQUE), never by message text; and the errors SQLite's busy handling gives,
 * which lockrepro decides from how SQLite answered (see scratch.ts).
 */
import type { DbError } from '../../engine/dialect.js';
import type { ErrorKind } from '../../vocabulary.js';

const KINDS: Record<string, ErrorKind> = {
  SQLITE_CONSTRAINT_UNIQUE: 'unique-violation',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'unique-violation',
  // Always given at once, whatever the timeout: the snapshot this transaction read is no longer
  // the newest, so it may never write (WAL mode).
  SQLITE_BUSY_SNAPSHOT: 'serialization',
  SQLITE_INTERRUPT: 'timeout',
};

export function classifySqliteError(code: string, message: string, undone: DbError['rolledBack']): DbError {
  return {
    code,
    kind: KINDS[code] ?? 'other',
    message,
    rolledBack: undone,
    // SQLITE_ERROR is SQLite's "SQL error": a syntax error, a missing table or column, COMMIT with
    // no transaction open. The scenario's fault, whatever runs beside it.
    ...(code === 'SQLITE_ERROR' ? { invalidSql: true } : {}),
  };
}

/**
 * SQLITE_BUSY with the busy handler skipped: a real application gets it at once, whatever its
 * busy_timeout. In rollback-journal mode SQLite skips the handler because waiting could only
 * deadlock (this transaction holds a read lock that the writer's COMMIT needs released): kind
 * deadlock, with the cycle SQLite avoided. In WAL mode the writer will commit a version newer
 * than this transaction's snapshot, which then may never write: kind serialization, like
 * PostgreSQL's 40001 under snapshot isolation.
 */
export function busyAtOnce(code: string, wal: boolean, victim: number, writer: number | null): DbError {
  const base = { code, message: 'database is locked', rolledBack: 'none' as const };
  if (wal || code !== 'SQLITE_BUSY') return { ...base, kind: 'serialization' };
  return {
    ...base,
    kind: 'deadlock',
    ...(writer === null
      ? {}
      : {
          deadlock: {
            waits: [
              { waiter: victim, holders: [writer], lock: 'the write lock (RESERVED)' },
              { waiter: writer, holders: [victim], lock: 'no read lock left (SHARED), to commit' },
            ],
            text:
              `{{${victim}}} has read in its transaction and now needs the write lock, which {{${writer}}} holds; ` +
              `{{${writer}}} cannot commit while {{${victim}}} keeps its read lock. SQLite gives no report: ` +
              'it returns SQLITE_BUSY at once instead of calling the busy handler (sqlite3_busy_handler: "could result in a deadlock").',
          },
        }),
  };
}

/** The waiter that waited longest when every unfinished worker waits: its busy_timeout runs out first. */
export function busyTimeout(): DbError {
  return {
    code: 'SQLITE_BUSY',
    kind: 'lock-timeout',
    message: 'database is locked (busy_timeout: every unfinished worker was waiting, so no lock could be freed)',
    rolledBack: 'statement',
  };
}

/** lockrepro cancelled the waiting statement (a hang). */
export function interrupted(): DbError {
  return classifySqliteError('SQLITE_INTERRUPT', 'interrupted', 'statement');
}
