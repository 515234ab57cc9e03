/**
 * What the application does after one of its statements failed: the scenario's error policy, as a
 * pure function (the scheduler carries it out).
 */
import type { ErrorKind } from '../vocabulary.js';
import type { DbError, QueryResult } from './dialect.js';
import type { PlannedSql, PlannedStep, VariantPlan } from '../plan/plan.js';

export type ErrorAction =
  /** Cancelled as a hang: the worker gives up. */
  | { readonly do: 'hang' }
  /** The step catches this kind: the worker goes on, after the recovery SQL if there is one. */
  | { readonly do: 'catch'; readonly recovery: PlannedSql | null }
  /** The variant retries on this kind and attempts are left: the transaction starts again. */
  | { readonly do: 'retry' }
  /** Unhandled: roll back, skip the worker's remaining steps. */
  | { readonly do: 'give-up' };

export interface ErrorContext {
  readonly kind: ErrorKind;
  readonly step: PlannedStep;
  readonly retry: VariantPlan['retry'];
  /** 1 for the first try of the worker's transaction. */
  readonly attempt: number;
  readonly cancelledAsHang: boolean;
  /** The worker's connection was ended: nothing more can run on it. */
  readonly connectionEnded: boolean;
}

export function onError(c: ErrorContext): ErrorAction {
  if (c.cancelledAsHang) return { do: 'hang' };
  if (c.step.catch.has(c.kind)) return { do: 'catch', recovery: c.step.catch.get(c.kind) ?? null };
  if (c.retry?.on.includes(c.kind) && c.attempt <= c.retry.attempts && !c.connectionEnded) return { do: 'retry' };
  return { do: 'give-up' };
}

/** A statement's result as the scheduler sees it. */
export type Outcome = { ok: true; result: QueryResult } | { ok: false; error: DbError };

/**
 * Optimistic locking: the application counts the rows its UPDATE changed and treats any other
 * count as a conflict (kind serialization, so a fix can retry on it). The statement itself
 * succeeded and the server undid nothing: what happens next is the application's choice.
 */
export function checkRows(step: PlannedStep, o: Outcome): Outcome {
  if (!o.ok || step.expectRows === null || o.result.rowCount === step.expectRows) return o;
  return {
    ok: false,
    error: {
      code: 'rows',
      kind: 'serialization',
      message: `the application expected ${step.expectRows} row${step.expectRows === 1 ? '' : 's'} changed and got ${o.result.rowCount ?? 0}: a concurrent change (optimistic lock conflict)`,
      rolledBack: 'none',
    },
  };
}
