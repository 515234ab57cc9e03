/**
 * MySQL/MariaDB errors → {@link DbError}, by errno (never by message text).
 *
 * What an error undoes differs by cause, and a few errnos are ambiguous: 1213 from InnoDB's
 * deadlock detector rolls back the whole transaction, but the same 1213 for a deadlock between
 * GET_LOCK() user locks (MDL) leaves the transaction open (measured on MariaDB 10.11.19:
 * `@@in_transaction` stays 1 and earlier writes stay). So the table below is only the default;
 * the session asks the server afterwards (see {@link rolledBackFrom}).
 */
import type { DbError } from '../../engine/dialect.js';
import type { ErrorKind } from '../../vocabulary.js';
import { scrub } from '../../util/redact.js';

interface Rule {
  kind: ErrorKind;
  rolledBack: DbError['rolledBack'];
}

/** errno → kind and what it rolls back by default. Anything else is `other` / `statement`. */
const RULES: Record<number, Rule> = {
  // ER_LOCK_DEADLOCK. InnoDB deadlock victim: whole transaction rolled back (@@in_transaction=0).
  1213: { kind: 'deadlock', rolledBack: 'transaction' },
  // ER_USER_LOCK_DEADLOCK (MySQL 5.7+, GET_LOCK deadlock; MariaDB reports 1213 instead). Untested.
  3058: { kind: 'deadlock', rolledBack: 'statement' },
  // ER_LOCK_WAIT_TIMEOUT (innodb_lock_wait_timeout, lock_wait_timeout for metadata locks, and
  // MariaDB's NOWAIT / WAIT n). Only the statement, unless innodb_rollback_on_timeout=ON.
  1205: { kind: 'lock-timeout', rolledBack: 'statement' },
  // ER_LOCK_NOWAIT (MySQL 8 `FOR UPDATE NOWAIT`). Untested: MySQL 8 cannot run here.
  3572: { kind: 'lock-timeout', rolledBack: 'statement' },
  // ER_DUP_ENTRY and ER_DUP_ENTRY_WITH_KEY_NAME.
  1062: { kind: 'unique-violation', rolledBack: 'statement' },
  1586: { kind: 'unique-violation', rolledBack: 'statement' },
  // ER_CHECKREAD "Record has changed since last read" (MariaDB innodb_snapshot_isolation=ON).
  // Measured on 10.11.19: the whole transaction is rolled back (@@in_transaction=0, earlier
  // writes of the transaction undone).
  1020: { kind: 'serialization', rolledBack: 'transaction' },
  // ER_QUERY_TIMEOUT (MySQL max_execution_time), ER_STATEMENT_TIMEOUT (MariaDB max_statement_time),
  // ER_QUERY_INTERRUPTED (KILL QUERY, which is how lockrepro cancels a hung step).
  3024: { kind: 'timeout', rolledBack: 'statement' },
  1969: { kind: 'timeout', rolledBack: 'statement' },
  1317: { kind: 'timeout', rolledBack: 'statement' },
};

export interface ServerBehaviour {
  /** innodb_rollback_on_timeout: 1205 then rolls back the whole transaction. */
  rollbackOnTimeout: boolean;
}

/** The shape of a mysql2 error we rely on. */
interface Mysql2Error {
  errno?: unknown;
  code?: unknown;
  sqlState?: unknown;
  sqlMessage?: unknown;
  message?: unknown;
  fatal?: unknown;
}

/**
 * The errno of a server error, or null for anything else: connection errors (ECONNRESET,
 * PROTOCOL_CONNECTION_LOST) and errors after which the connection is gone (`fatal`).
 */
export function serverErrno(e: unknown): number | null {
  if (!e || typeof e !== 'object') return null;
  const err = e as Mysql2Error;
  if (err.fatal === true) return null;
  // Server errors carry sqlState; client-side ones (bad bind parameters...) only a code.
  if (typeof err.errno !== 'number' || typeof err.sqlState !== 'string') return null;
  return err.errno;
}

/** Classify a server error with the default rollback scope (before asking the server). */
export function classifyMysqlError(e: unknown, server: ServerBehaviour): DbError | null {
  const errno = serverErrno(e);
  if (errno === null) return null;
  const err = e as Mysql2Error;
  const rule = RULES[errno] ?? { kind: 'other', rolledBack: 'statement' };
  let rolledBack = rule.rolledBack;
  if (errno === 1205 && server.rollbackOnTimeout) rolledBack = 'transaction';
  const message = typeof err.sqlMessage === 'string' ? err.sqlMessage : String(err.message ?? '');
  return {
    code: String(errno),
    kind: rule.kind,
    message: scrub(message),
    rolledBack,
    ...(INVALID_SQL.has(errno) ? { invalidSql: true } : {}),
    // 1053 server shutdown in progress, 1927 connection killed.
    ...(errno === 1053 || errno === 1927 ? { connectionLost: true } : {}),
  };
}

/**
 * The statement itself is wrong, whatever runs beside it: 1064 parse error, 1149 syntax error,
 * 1146 no such table, 1054 unknown column, 1305 no such function or procedure, 1109 unknown table
 * (in a multi-table statement), 1630 a function name with a space before its parenthesis, 1049
 * unknown database, 1051 unknown table (DROP).
 */
const INVALID_SQL = new Set([1064, 1149, 1146, 1054, 1305, 1109, 1630, 1049, 1051]);

/**
 * The honest rollback scope, from what the server says after the error:
 * - still in a transaction → only the statement was undone;
 * - no transaction now, but there was one before the statement → the transaction was rolled back;
 * - otherwise (autocommit statement, or unknown) → the errno's default.
 */
export function rolledBackFrom(
  byErrno: DbError['rolledBack'],
  inTransactionBefore: boolean,
  inTransactionAfter: boolean | null,
): DbError['rolledBack'] {
  if (inTransactionAfter === true) return 'statement';
  if (inTransactionAfter === false && inTransactionBefore) return 'transaction';
  return byErrno;
}

export function describe(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return describe(e.errors[0]);
  if (e instanceof Error) return e.message || (e as { code?: string }).code || e.name;
  return String(e);
}
