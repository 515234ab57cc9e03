/** What reporters render: every variant's run with its verdict, grouped by scenario. */
import type { DatabaseInfo } from '../engine/dialect.js';
import type { VariantRun } from '../engine/result.js';
import type { Verdict } from '../detect/detect.js';
import type { Scenario } from '../scenario/model.js';

export interface VariantReport {
  readonly run: VariantRun;
  readonly verdict: Verdict;
}

export interface ScenarioReport {
  readonly scenario: Scenario;
  readonly variants: VariantReport[];
}

export interface Report {
  readonly database: DatabaseInfo;
  readonly scenarios: ScenarioReport[];
}

export function reportOk(r: Report): boolean {
  return r.scenarios.every((s) => s.variants.every((v) => v.verdict.met));
}
