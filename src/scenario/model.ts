/**
 * The checked scenario: plain readonly data with the line each piece came from, so later stages
 * (planning for one engine) can still point at the file. Built only by src/scenario/check.ts.
 */
import type { EngineName, ErrorKind, IsolationLevel } from '../vocabulary.js';
import type { Anomaly } from './schema.js';

export interface Located {
  readonly line: number;
}

/** SQL text, either for every engine or per engine. */
export interface Sql extends Located {
  readonly all?: string;
  readonly byEngine: Readonly<Partial<Record<EngineName, string>>>;
  /**
   * For a `{ file: … }` entry: the path (as shown) each text above was read from. The text is
   * split into statements only for the engine that runs it (src/scenario/sql-files.ts).
   */
  readonly file?: { readonly all?: string; readonly byEngine: Readonly<Partial<Record<EngineName, string>>> };
}

export interface Step extends Located {
  readonly worker: string;
  readonly name: string;
  readonly sql: Sql;
  /** A name: the first column of the first row; a list: those columns by name. */
  readonly save: string | readonly string[] | null;
  /** Handled error kinds, each with optional recovery SQL run before the worker goes on. */
  readonly catch: ReadonlyMap<ErrorKind, Sql | null>;
  /** Rows the application expects the statement to change; another count is a conflict. */
  readonly expectRows: number | null;
  /** Expected to wait on another worker's lock (true), never to wait (false), or not said. */
  readonly waits: boolean | null;
  readonly note: string | null;
}

export interface Worker {
  readonly name: string;
  readonly steps: readonly Step[];
}

export interface StepRef extends Located {
  readonly worker: string;
  readonly step: string;
}

export type CheckValue = number | string | boolean | null;

export interface Check extends Located {
  readonly name: string;
  readonly sql: Sql;
  readonly expect: CheckValue | readonly Record<string, CheckValue>[];
  readonly anomaly: 'lost-update' | 'duplicates' | 'invariant';
}

/** Expected anomalies per engine; an empty list means clean. */
export interface Expectation extends Located {
  readonly byEngine: Readonly<Partial<Record<EngineName | 'default', readonly Anomaly[]>>>;
}

export interface Insert extends Located {
  readonly anchor: StepRef;
  readonly position: 'after' | 'before';
  readonly step: Step;
}

export interface Fix extends Located {
  readonly name: string;
  readonly title: string | null;
  readonly story: string | null;
  /** Run after the scenario's setup, for this fix only. */
  readonly setup: readonly Sql[];
  /** New SQL for a step (`step` null: the rest of the step is kept), or a whole new step. */
  readonly replace: readonly { ref: StepRef; sql: Sql; step: Step | null }[];
  readonly insert: readonly Insert[];
  readonly remove: readonly StepRef[];
  /** The fix's own schedule (after its edits), or null: the bug's, edited. */
  readonly schedule: readonly StepRef[] | null;
  readonly isolation: IsolationLevel | null;
  readonly retry: { readonly on: readonly ErrorKind[]; readonly attempts: number } | null;
  readonly expect: Expectation;
  readonly notes: Readonly<Partial<Record<EngineName, string>>>;
}

export interface Scenario {
  readonly file: string;
  readonly name: string;
  readonly title: string;
  readonly seed: readonly string[];
  readonly story: string;
  /** Engines the scenario declares; null means "whatever its SQL covers". */
  readonly engines: readonly EngineName[] | null;
  /** Per engine; `default` when the file gives one level for all. */
  readonly isolation: Readonly<Partial<Record<EngineName | 'default', IsolationLevel>>>;
  readonly timeoutMs: number | null;
  readonly setup: readonly Sql[];
  readonly teardown: readonly Sql[];
  readonly workers: readonly Worker[];
  /** The schedule as written, or null for the default (round robin). */
  readonly schedule: readonly StepRef[] | null;
  readonly checks: readonly Check[];
  readonly expect: Expectation;
  readonly notes: Readonly<Partial<Record<EngineName, string>>>;
  readonly fixes: readonly Fix[];
}

export function refText(r: { worker: string; step: string }): string {
  return `${r.worker}.${r.step}`;
}
