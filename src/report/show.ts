/** `lockrepro show`: a scenario as a reader sees it, without running anything. */
import { ENGINES } from '../engine/dialect.js';
import type { Scenario, Sql } from '../scenario/model.js';
import { bugShape, fixShape } from '../plan/variants.js';
import { refText } from '../scenario/model.js';
import { expectText } from './expect-text.js';

export function showScenario(sc: Scenario): string {
  const out: string[] = [`${sc.name} — ${sc.title}`, `file: ${sc.file}`];
  for (const seed of sc.seed) out.push(`retells seed ${seed}`);
  out.push(`engines: ${(sc.engines ?? ENGINES).join(', ')} · isolation: ${Object.entries(sc.isolation).map(([k, v]) => (k === 'default' ? v : `${k} ${v}`)).join(', ')}`, '', ...indent(sc.story), '');
  if (sc.setup.length) out.push('setup:', ...sc.setup.map((s) => `  ${sqlText(s)}`), '');
  out.push('workers:');
  for (const w of sc.workers) {
    out.push(`  ${w.name}:`);
    for (const s of w.steps) {
      out.push(`    ${s.name.padEnd(12)} ${sqlText(s.sql)}${s.save ? `   → saves ${[s.save].flat().join(', ')}` : ''}`);
      if (s.note) out.push(`    ${''.padEnd(12)} # ${s.note}`);
    }
  }
  out.push('', `schedule: ${bugShape(sc).schedule.map(refText).join(', ')}`);
  if (sc.checks.length) {
    out.push('', 'checks:');
    for (const c of sc.checks) out.push(`  ${c.name} (${c.anomaly}): ${sqlText(c.sql)} = ${JSON.stringify(c.expect)}`);
  }
  out.push('', `bug expects: ${byEngineText(sc.expect.byEngine)}`);
  for (const f of sc.fixes) {
    out.push('', `fix ${f.name}${f.title ? ` — ${f.title}` : ''}: expects ${byEngineText(f.expect.byEngine)}`);
    if (f.story) out.push(...indent(f.story));
    for (const s of f.setup) out.push(`  setup: ${sqlText(s)}`);
    for (const r of f.replace) out.push(`  replace ${refText(r.ref)}: ${sqlText(r.sql)}`);
    for (const i of f.insert) out.push(`  insert ${i.position} ${refText(i.anchor)}: ${i.step.name}: ${sqlText(i.step.sql)}`);
    for (const r of f.remove) out.push(`  remove ${refText(r)}`);
    if (f.isolation) out.push(`  isolation: ${f.isolation}`);
    if (f.retry) out.push(`  retry on ${f.retry.on.join(', ')} up to ${f.retry.attempts} times`);
    const sched = fixShape(sc, f).shape.schedule.map(refText).join(', ');
    if (sched !== bugShape(sc).schedule.map(refText).join(', ')) out.push(`  schedule: ${sched}`);
  }
  return out.join('\n') + '\n';
}

function sqlText(s: Sql): string {
  if (s.all !== undefined) return oneLine(s.all);
  return Object.entries(s.byEngine).map(([e, t]) => `[${e}] ${oneLine(t!)}`).join('  ');
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function indent(text: string): string[] {
  return text.trim().split('\n').map((l) => `  ${l}`);
}

/** A per-engine expectation: `deadlock`, or `postgres: clean, mysql: lost-update`. */
function byEngineText(by: Scenario['expect']['byEngine']): string {
  return Object.entries(by)
    .map(([k, v]) => `${k === 'default' ? '' : `${k}: `}${expectText(v ?? [])}`)
    .join(', ');
}
