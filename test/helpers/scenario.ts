/** Build checked scenarios and plans from inline YAML, for unit tests. */
import { checkScenario } from '../../src/scenario/check.js';
import { parseScenarioText } from '../../src/scenario/parse.js';
import { planScenario, type VariantPlan } from '../../src/plan/plan.js';
import type { Scenario } from '../../src/scenario/model.js';
import type { EngineName } from '../../src/engine/dialect.js';

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
