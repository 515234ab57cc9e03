/**
 * `lockrepro list`: each built-in scenario, what its bug shows (the expectation, per engine where
 * engines differ), its fixes, and the engines it runs on (its SQL covers them).
 */
import { scenarioEngines } from '../plan/plan.js';
import { expectationFor } from '../scenario/engines.js';
import type { Scenario } from '../scenario/model.js';
import type { EngineName } from '../vocabulary.js';
import { expectText } from './format.js';

/** What the bug shows on each engine it runs on (`clean` where the engine prevents it). */
function shows(sc: Scenario): Partial<Record<EngineName, string[]>> {
  return Object.fromEntries(scenarioEngines(sc).map((e) => [e, [...(expectationFor(sc.expect, e) ?? [])]]));
}

/** `deadlock`, or `lost-update on postgres; clean on mysql, mariadb` when engines differ. */
function showsText(sc: Scenario): string {
  const byText = new Map<string, EngineName[]>();
  for (const [engine, anomalies] of Object.entries(shows(sc)) as [EngineName, string[]][]) {
    const t = expectText(anomalies);
    byText.set(t, [...(byText.get(t) ?? []), engine]);
  }
  if (byText.size <= 1) return [...byText.keys()][0] ?? 'clean';
  return [...byText].map(([t, engines]) => `${t} on ${engines.join(', ')}`).join('; ');
}

export function listText(scenarios: readonly Scenario[]): string {
  const width = Math.max(...scenarios.map((s) => s.name.length));
  const pad = ' '.repeat(width + 2);
  const lines: string[] = [];
  for (const s of scenarios) {
    lines.push(`${s.name.padEnd(width)}  ${s.title}`);
    const fixes = s.fixes.length > 0 ? ` · ${s.fixes.length === 1 ? 'fix' : 'fixes'}: ${s.fixes.map((f) => f.name).join(', ')}` : '';
    lines.push(`${pad}shows ${showsText(s)}${fixes} · runs on ${scenarioEngines(s).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export function listJson(scenarios: readonly Scenario[]): unknown {
  return scenarios.map((s) => ({
    name: s.name,
    title: s.title,
    seed: s.seed,
    engines: scenarioEngines(s),
    expect: shows(s),
    fixes: s.fixes.map((f) => f.name),
  }));
}
