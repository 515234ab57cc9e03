/** What reporters render: every variant's run with its verdict, grouped by scenario. */
import type { DatabaseInfo } from '../engine/dialect.js';
import type { Scenario } from '../scenario/model.js';
import type { VariantReport } from '../modes/run-modes.js';

export type { VariantReport };

export interface ScenarioReport {
  readonly scenario: Scenario;
  readonly variants: VariantReport[];
  /** The scenario's own SQL failed (setup, teardown, a step or a check): its remaining variants did not run. */
  error?: ScenarioError;
}

export interface ScenarioError {
  readonly kind: 'scenario-sql';
  readonly file: string;
  readonly line: number;
  readonly code: string;
  readonly message: string;
}

/** A scenario not run on this database (its `engines:` leave this one out), and why. */
export interface SkippedScenario {
  readonly scenario: Scenario;
  readonly reason: string;
}

export interface Report {
  readonly database: DatabaseInfo;
  readonly scenarios: ScenarioReport[];
  readonly skipped?: readonly SkippedScenario[];
}

/** Something ran and every expectation was met. A run where nothing ran proves nothing: not ok. */
export function reportOk(r: Report): boolean {
  return nothingRan(r) ? false : r.scenarios.every((s) => !s.error && s.variants.every((v) => v.verdict.met));
}

/** Scenarios whose own SQL failed. */
export function scenarioErrors(r: Report): ScenarioError[] {
  return r.scenarios.flatMap((s) => (s.error ? [s.error] : []));
}

export function nothingRan(r: Report): boolean {
  return r.scenarios.every((s) => s.variants.length === 0 && !s.error);
}
