/** Build checked scenarios and plans from inline YAML, for unit tests. */
import { checkScenario } from '../../src/scenario/check.js';
import { parseScenarioText } from '../../src/scenario/parse.js';
import { planScenario, type VariantPlan } from '../../src/plan/plan.js';
import type { Scenario } from '../../src/scenario/model.js';
import type { EngineName } from '../../src/vocabulary.js';

export function scenarioFrom(yaml: string, file = 'test.yaml'): Scenario {
  const r = checkScenario(parseScenarioText(file, yaml));
  if (!r.scenario) throw new Error(r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n'));
  return r.scenario;
}

export function problemsOf(yaml: string, file = 'bad.yaml'): string[] {
  return checkScenario(parseScenarioText(file, yaml)).problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
}

export function plansFrom(yaml: string, engine: EngineName = 'postgres', placeholder = (n: number) => `$${n}`): VariantPlan[] {
  const r = planScenario(scenarioFrom(yaml), { engine, placeholder });
  if (r.problems.length > 0) throw new Error(r.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return r.plans;
}

/**
 * After `name`, `title` and `story` (lines 1-3): five problems on lines 7-11, of shape and of
 * reference alike, for the tests that every problem is reported at once.
 */
export const FIVE_PROBLEMS = `engines: [postgres, mariadb]
workers:
  a:
    - { name: begin, sql: BEGIN, colour: red }
    - { name: lock, sql: { postgres: LOCK TABLE t } }
    - { name: use, sql: "SELECT :vv" }
schedule: [a.begin, a.missing, a.lock, a.use]
expect: deadlok
`;

/** The smallest valid scenario: one worker that begins and commits. */
export const SIMPLE = `name: simple
title: t
story: s
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: commit, sql: COMMIT }
expect: clean
`;
