/**
 * What both drivers (the scheduler and stress mode's concurrent one) do around one statement:
 * send it, turn its answer into an outcome, keep what it returned, and record a deadlock.
 */
import type { DbError, QueryResult, Session } from './dialect.js';
import { QueryError } from './dialect.js';
import type { PlannedSql, PlannedStep } from '../plan/plan.js';
import type { DeadlockRecord, Row, StepRecord } from './result.js';
import { checkRows, type Outcome } from './policy.js';

/** Send a step's SQL with the worker's saved values bound; never rejects. */
export async function execute(session: Session, step: PlannedStep, sql: PlannedSql, vars: ReadonlyMap<string, unknown>): Promise<Outcome> {
  try {
    const result = await session.query(
      sql.text,
      sql.params.map((n) => vars.get(n) ?? null),
    );
    return checkRows(step, { ok: true, result });
  } catch (e) {
    if (e instanceof QueryError) return { ok: false, error: e.db };
    return { ok: false, error: lostError((e as Error).message) };
  }
}

export function lostError(message: string): DbError {
  return { code: 'connection', kind: 'other', message, rolledBack: 'transaction' };
}

/** Keep what a finished step returned (up to `keepRows` rows) in its record. */
export function keepResult(rec: StepRecord, result: QueryResult, keepRows: number): void {
  rec.rows = result.rows.slice(0, keepRows);
  rec.truncated = result.rows.length > keepRows;
  rec.rowCount = result.rowCount;
  rec.resultSet = result.columns.length > 0;
}

/** A step's `save`: the first row's first column, or the named columns, for later steps to bind. */
export function saveValues(step: PlannedStep, result: QueryResult, vars: Map<string, unknown>): void {
  if (step.save === null) return;
  const row: Row | undefined = result.rows[0];
  if (typeof step.save === 'string') {
    const col = result.columns[0];
    vars.set(step.save, row && col !== undefined ? row[col] : null);
  } else {
    for (const name of step.save) vars.set(name, row ? (row[name] ?? null) : null);
  }
}

/** The database's own account of a deadlock, with worker names in place of backend ids. */
export function deadlockRecord(
  step: number,
  rec: StepRecord,
  error: DbError,
  nameOf: (backendId: number) => string | undefined,
  /** Without the database's report: the cycle deduced from the waits, if any. */
  deduced: readonly string[] = [],
): DeadlockRecord {
  const report = error.deadlock;
  const name = (id: number) => nameOf(id) ?? 'another session';
  const cycle = report
    ? [...new Set(report.waits.map((x) => name(x.waiter)))]
    : deduced.length > 0
      ? [...deduced]
      : [rec.worker, ...rec.blockedBy.filter((n) => n !== rec.worker)];
  const server = report ? report.text.replace(/\{\{(\d+)\}\}/g, (_, id: string) => name(Number(id))) : null;
  return { step, victim: rec.worker, cycle, server };
}

/** A fresh record for a step about to be sent (or skipped). */
export function newRecord(
  step: PlannedStep,
  worker: string,
  attempt: number,
  backendId: number,
  recovery: boolean,
  params: Record<string, unknown>,
  status: StepRecord['status'],
): StepRecord {
  return {
    worker,
    step: step.name,
    attempt,
    sql: step.sql.source,
    line: step.line,
    params,
    status,
    blocked: false,
    blockedBy: [],
    lock: null,
    rows: [],
    rowCount: null,
    truncated: false,
    resultSet: false,
    error: null,
    handled: null,
    hang: false,
    recovery,
    note: step.note,
    backendId,
    startedMs: null,
    waitSeenMs: null,
    endedMs: null,
  };
}

/** The step that runs a caught error's recovery SQL (`<step>:catch`): it saves, catches and checks nothing. */
export function recoveryStep(step: PlannedStep, sql: PlannedSql): PlannedStep {
  return { ...step, name: `${step.name}:catch`, sql, save: null, catch: new Map(), expectRows: null, note: null };
}
