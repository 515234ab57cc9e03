/** PostgreSQL errors → {@link DbError}, by SQLSTATE (never by message text). */
import type { DbError, ErrorKind } from '../../engine/dialect.js';
import { scrub } from '../../util/redact.js';

const KINDS: Record<string, ErrorKind> = {
  '40P01': 'deadlock', // deadlock_detected
  '40001': 'serialization', // serialization_failure
  '23505': 'unique-violation', // unique_violation
  '55P03': 'lock-timeout', // lock_not_available: NOWAIT and lock_timeout
  '57014': 'timeout', // query_canceled: statement_timeout or a cancel request
};

export function classifyPgError(e: unknown): DbError | null {
  if (!e || typeof e !== 'object') return null;
  const err = e as { code?: unknown; message?: unknown; detail?: unknown; severity?: unknown };
  // Server errors carry a five-character SQLSTATE; connection errors (ECONNRESET...) do not.
  if (typeof err.code !== 'string' || !/^[0-9A-Z]{5}$/.test(err.code)) return null;
  return {
    code: err.code,
    kind: KINDS[err.code] ?? 'other',
    message: scrub(String(err.message ?? '')),
    // Any error inside a PostgreSQL transaction block aborts the whole transaction: nothing but
    // ROLLBACK is accepted until it ends. A worker session refines this from the transaction
    // status the server reports after the error (index.ts: statement, transaction).
    rolledBack: 'aborted',
    ...(typeof err.detail === 'string' ? { detail: scrub(err.detail) } : {}),
  };
}
