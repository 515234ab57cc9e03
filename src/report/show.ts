/**
 * `lockrepro show`: a scenario as a reader sees it, without running anything. For workshop
 * students reading a scenario before running it, so everything the story depends on is here:
 * what each step saves, catches and checks, the per-engine notes, and each fix's changes.
 */
import type { Scenario, Sql, Step } from '../scenario/model.js';
import { bugShape, fixShape } from '../scenario/variants.js';
import { scenarioEngines } from '../plan/plan.js';
import { refText } from '../scenario/model.js';
import { expectText, oneLine, wrap } from './format.js';

const WIDTH = 96;
/** Step names are padded to this width; detail lines start under the SQL. */
const NAME = 12;

export function showScenario(sc: Scenario): string {
  const out: string[] = [`${sc.name} — ${sc.title}`, `file: ${sc.file}`];
  for (const seed of sc.seed) out.push(`retells seed ${seed}`);
  const engines = scenarioEngines(sc);
  const head = [
    `engines: ${engines.length > 0 ? engines.join(', ') : 'none (no engine has SQL for every step)'}`,
    `isolation: ${Object.entries(sc.isolation)
      .map(([k, v]) => (k === 'default' ? v : `${k} ${v}`))
      .join(', ')}`,
  ];
  if (sc.timeoutMs !== null) head.push(`step timeout: ${sc.timeoutMs} ms`);
  out.push(head.join(' · '), '', ...indent(sc.story), '');
  if (sc.setup.length) out.push('setup:', ...sc.setup.flatMap((s) => sqlLines('  ', s)), '');
  out.push('workers:');
  for (const w of sc.workers) {
    out.push(`  ${w.name}:`);
    for (const s of w.steps) out.push(...stepLines(s, '    '));
  }
  out.push('', ...wrap(`schedule: ${bugShape(sc).schedule.map(refText).join(', ')}`, WIDTH, '', '  '));
  if (sc.checks.length) {
    out.push('', 'checks:');
    for (const c of sc.checks) out.push(...sqlLines(`  ${c.name} (${c.anomaly}): `, c.sql, ` = ${JSON.stringify(c.expect)}`));
  }
  if (sc.teardown.length) out.push('', 'teardown:', ...sc.teardown.flatMap((s) => sqlLines('  ', s)));
  out.push('', `bug expects: ${byEngineText(sc.expect.byEngine)}`);
  out.push(...notesLines(sc.notes, '  '));
  for (const f of sc.fixes) {
    out.push('', `fix ${f.name}${f.title ? ` — ${f.title}` : ''}: expects ${byEngineText(f.expect.byEngine)}`);
    if (f.story) out.push(...indent(f.story));
    for (const s of f.setup) out.push(...sqlLines('  + setup: ', s));
    for (const r of f.replace) {
      out.push(...sqlLines(`  replace ${refText(r.ref)}: `, r.sql, r.step ? savesText(r.step) : ''));
      // New SQL keeps the step's save, catch, row check and waits (its note described the old
      // SQL); a whole step is all new.
      const old = sc.workers.find((w) => w.name === r.ref.worker)?.steps.find((s) => s.name === r.ref.step);
      if (r.step) out.push(...detailLines(r.step, '    '));
      else if (old) out.push(...detailLines({ ...old, note: null }, '    '));
    }
    for (const i of f.insert) {
      out.push(...sqlLines(`  insert ${i.position} ${refText(i.anchor)}: ${i.step.name}: `, i.step.sql, savesText(i.step)));
      out.push(...detailLines(i.step, '    '));
    }
    for (const r of f.remove) out.push(`  remove ${refText(r)}`);
    if (f.isolation) out.push(`  isolation: ${f.isolation}`);
    if (f.retry) out.push(`  retry on ${f.retry.on.join(', ')} up to ${f.retry.attempts} times`);
    const sched = fixShape(sc, f).shape.schedule.map(refText).join(', ');
    if (sched !== bugShape(sc).schedule.map(refText).join(', ')) out.push(...wrap(`schedule: ${sched}`, WIDTH, '  ', '    '));
    out.push(...notesLines(f.notes, '  '));
  }
  return `${out.join('\n')}\n`;
}

/** A worker's step: name, SQL and what it saves, then its note, catches and row check. */
function stepLines(s: Step, pad: string): string[] {
  return [...sqlLines(`${pad}${s.name.padEnd(NAME)} `, s.sql, savesText(s)), ...detailLines(s, `${pad}${''.padEnd(NAME)} `)];
}

function savesText(s: Step): string {
  return s.save ? `   → saves ${[s.save].flat().join(', ')}` : '';
}

/** What the application does around a step: its note, the errors it catches, the row count it checks. */
function detailLines(s: Step, pad: string): string[] {
  const out: string[] = [];
  if (s.note) out.push(`${pad}# ${s.note}`);
  for (const [kind, recovery] of s.catch) {
    if (recovery) out.push(...sqlLines(`${pad}catches ${kind}, runs `, recovery, ', and goes on'));
    else out.push(`${pad}catches ${kind}, and goes on`);
  }
  if (s.expectRows !== null) {
    out.push(`${pad}expects ${s.expectRows} row${s.expectRows === 1 ? '' : 's'} changed; any other count is a conflict (serialization)`);
  }
  if (s.waits !== null) out.push(`${pad}${s.waits ? 'must wait on a lock' : 'must not wait on a lock'} (waits: ${s.waits})`);
  return out;
}

/** Per-engine notes, each wrapped: `on postgres: …`. */
function notesLines(notes: Scenario['notes'], pad: string): string[] {
  return Object.entries(notes).flatMap(([engine, note]) => (note ? wrap(`on ${engine}: ${oneLine(note)}`, WIDTH, pad, `${pad}  `) : []));
}

/**
 * SQL after `prefix`, then `suffix`. Per-engine SQL takes one line per engine, aligned under the
 * first: `[postgres] LOCK TABLE …` / `[mysql]    LOCK TABLES …`.
 */
function sqlLines(prefix: string, s: Sql, suffix = ''): string[] {
  if (s.file) {
    const named = Object.fromEntries(Object.entries(s.file.byEngine).map(([e, f]) => [e, `file ${f}`]));
    return sqlLines(prefix, { line: s.line, all: s.file.all && `file ${s.file.all}`, byEngine: named }, suffix);
  }
  if (s.all !== undefined) return [`${prefix}${oneLine(s.all)}${suffix}`];
  const engines = Object.entries(s.byEngine);
  const width = Math.max(...engines.map(([e]) => e.length)) + 2;
  const lines = engines.map(([e, t], i) => `${i === 0 ? prefix : ' '.repeat(prefix.length)}${`[${e}]`.padEnd(width)} ${oneLine(t!)}`);
  lines[lines.length - 1] += suffix;
  return lines;
}

function indent(text: string): string[] {
  return text
    .trim()
    .split('\n')
    .map((l) => `  ${l}`);
}

/** A per-engine expectation: `deadlock`, or `postgres: clean, mysql: lost-update`. */
function byEngineText(by: Scenario['expect']['byEngine']): string {
  const entries = Object.entries(by);
  // One expectation for all engines reads plainly; beside per-engine ones, `default` is labelled.
  if (entries.length === 1 && entries[0]![0] === 'default') return expectText(entries[0]![1] ?? []);
  return entries.map(([k, v]) => `${k === 'default' ? 'other engines' : k}: ${expectText(v ?? [])}`).join(', ');
}
