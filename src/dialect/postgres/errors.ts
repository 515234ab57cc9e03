/** PostgreSQL errors → {@link DbError}, by SQLSTATE (never by message text). */
import type { DbError, DeadlockReport } from '../../engine/dialect.js';
import type { ErrorKind } from '../../vocabulary.js';
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
  const err = e as { code?: unknown; message?: unknown; detail?: unknown; severity?: unknown; where?: unknown };
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
    // A deadlock victim's context names the row it waited for (`while updating tuple (0,1) in relation "account"`).
    ...(err.code === '40P01' && typeof err.where === 'string' ? { context: scrub(err.where) } : {}),
    ...(invalidSql(err.code) ? { invalidSql: true } : {}),
    // Class 08 (connection exception) and 57P01-57P03 (admin or crash shutdown, cannot connect now).
    ...(/^08|^57P0[123]$/.test(err.code) ? { connectionLost: true } : {}),
  };
}

/**
 * Class 42 (syntax error or access rule violation: 42601 syntax, 42P01 undefined table, 42703
 * undefined column, 42883 undefined function, ...) says the statement is wrong, whatever runs
 * beside it. 42501 (insufficient privilege) is about the role, not the text.
 */
function invalidSql(code: string): boolean {
  return code.startsWith('42') && code !== '42501';
}

/**
 * The cycle in a 40P01 error's detail, one line per waiting backend:
 * `Process 8000 waits for ShareLock on transaction 756; blocked by process 8001.`
 * The detail is the server's prose (translated where lc_messages says so), so this is a report to
 * show, never a classification: an unparsable detail gives no report and the monitor's own view
 * stands. Backend ids become `{{pid}}`; a transaction id (different every run) becomes the
 * transaction of the process blocking it, so the same deadlock reads the same every run.
 * Relation OIDs are left for the caller to name (see {@link relationOids}).
 */
export function parseDeadlockDetail(detail: string | undefined): DeadlockReport | undefined {
  if (!detail) return undefined;
  const waits: DeadlockReport['waits'] = [];
  const lines: string[] = [];
  for (const line of detail.split('\n')) {
    const m = /^Process (\d+) waits for (.+); blocked by process (\d+)\.$/.exec(line.trim());
    if (!m) return undefined;
    const [, waiter, what, holder] = m as unknown as [string, string, string, string];
    const lock = what.replace(/\btransaction \d+/, `{{${holder}}}'s transaction`);
    waits.push({ waiter: Number(waiter), holders: [Number(holder)], lock });
    lines.push(`{{${waiter}}} waits for ${lock}; blocked by {{${holder}}}.`);
  }
  return waits.length > 0 ? { waits, text: lines.join('\n') } : undefined;
}

/** OIDs of relations a report names (`relation 16390`): they differ from run to run. */
export function relationOids(report: DeadlockReport): number[] {
  return [...report.text.matchAll(/\brelation (\d+)/g)].map((m) => Number(m[1]));
}

/**
 * Put relation names in place of OIDs and drop database OIDs (the scratch database's, different
 * every run), in the text and in each wait's lock.
 */
export function nameRelations(report: DeadlockReport, names: ReadonlyMap<number, string>): DeadlockReport {
  const fix = (s: string) =>
    s
      .replace(/\brelation (\d+)/g, (all, oid: string) => (names.has(Number(oid)) ? `relation ${names.get(Number(oid))}` : all))
      .replace(/ of database \d+/g, '');
  return { waits: report.waits.map((w) => ({ ...w, lock: w.lock === null ? null : fix(w.lock) })), text: fix(report.text) };
}
