/**
 * What a variant run produced: an ordered list of events and one record per executed step.
 * Detectors and reporters are pure functions of this (they can be tested with a fixture).
 */
import type { DbError, WaitLock } from './dialect.js';
import type { VariantPlan } from '../plan/plan.js';
import type { CheckValue } from '../scenario/model.js';

export type Row = Record<string, unknown>;

export interface StepRecord {
  readonly worker: string;
  readonly step: string;
  /** 1 for the first try of the worker's transaction, 2 after one retry, ... */
  attempt: number;
  /** The SQL as written (with `:name` references), and the scenario line it came from. */
  readonly sql: string;
  readonly line: number;
  /** Values bound to the references, by name. */
  readonly params: Readonly<Record<string, unknown>>;
  status: 'ok' | 'error' | 'not-run';
  /** True if the step waited on a lock before finishing. */
  blocked: boolean;
  /** Workers it waited for (every worker named at any point of the wait). */
  blockedBy: string[];
  /** The lock it waited for, as the monitor first named it (or the deadlock report, for a victim). */
  lock: WaitLock | null;
  /** The first rows of the result (at most the run's keepRows, 100 by default). */
  rows: Row[];
  /** Rows changed or returned, as the server counts them; null if unknown. */
  rowCount: number | null;
  /** More rows were returned than kept in `rows`. */
  truncated: boolean;
  /** The statement returned a result set (possibly with no rows), as a SELECT does. */
  resultSet: boolean;
  error: DbError | null;
  /** How the application dealt with the error: caught by the step, or its transaction retried. */
  handled: 'caught' | 'retried' | null;
  /**
   * Cancelled as a hang: it did not finish within the step timeout while waiting on no other
   * worker's lock, or it waited while no other step could move.
   */
  hang: boolean;
  /** Recovery SQL run because the previous step's error was caught. */
  readonly recovery: boolean;
  readonly note: string | null;
  /** Only for --verbose: server backend id and times (ms since the run started). */
  backendId: number | null;
  startedMs: number | null;
  /** When the monitor first saw the step waiting on a lock. */
  waitSeenMs: number | null;
  endedMs: number | null;
}

export type RunEvent =
  | { type: 'start'; step: number }
  | { type: 'wait'; step: number; blockedBy: string[] }
  | { type: 'finish'; step: number }
  | { type: 'skip'; step: number }
  | { type: 'hang'; step: number; reason: 'running' | 'stuck'; afterMs: number }
  | { type: 'rollback'; worker: string; reason: 'error' | 'retry' | 'hang' }
  | { type: 'retry'; worker: string; attempt: number };

/** What a check's SQL returned; detect/ decides whether it passed. */
export interface CheckRun {
  readonly name: string;
  /** The line of its SQL in the scenario file. */
  readonly line: number;
  readonly anomaly: 'lost-update' | 'duplicates' | 'invariant';
  readonly expect: CheckValue | readonly Record<string, CheckValue>[];
  readonly rows: readonly Row[];
  readonly columns: readonly string[];
  /** The check's own SQL failed (`its SQL failed: <code> <message>`), with the server's code. */
  readonly error: string | null;
  readonly code: string | null;
}

/** A deadlock the database broke, with worker names (`cycle` in the order the report gives). */
export interface DeadlockRecord {
  /** The step that got the deadlock error. */
  readonly step: number;
  readonly victim: string;
  readonly cycle: string[];
  /** The database's own report, worker names in place of backend ids; null if it gave none. */
  readonly server: string | null;
}

/** What driving the workers produced (the rest of a run is setup, checks and teardown). */
export interface Driven {
  readonly steps: StepRecord[];
  readonly events: RunEvent[];
  readonly deadlocks: DeadlockRecord[];
}

export interface VariantRun {
  readonly plan: VariantPlan;
  readonly deadlocks: DeadlockRecord[];
  readonly steps: StepRecord[];
  readonly events: RunEvent[];
  readonly checks: CheckRun[];
  readonly durationMs: number;
}
