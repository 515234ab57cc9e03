/**
 * Parsed data → checked {@link Scenario}, or every problem at once as `file:line: message`.
 * Shape and types come from the zod schema; references between parts (schedule, fixes, saved
 * values) are checked here. The runner never re-validates.
 */
import type { z } from 'zod';
import type { EngineName, ErrorKind } from '../engine/dialect.js';
import { bugShape, checkParams, checkSchedule, fixShape } from '../plan/variants.js';
import type { Check, Expectation, Fix, Scenario, Sql, Step, StepRef } from './model.js';
import { referencedNames } from './params.js';
import type { ParsedFile, Path, Problem } from './parse.js';
import {
  scenarioSchema,
  type Anomaly,
  type ExpectInput,
  type ScenarioInput,
  type SqlInput,
  type StepInput,
} from './schema.js';

export interface CheckResult {
  scenario?: Scenario;
  problems: Problem[];
}

export function checkScenario(parsed: ParsedFile): CheckResult {
  const { file } = parsed;
  if (parsed.problems.length > 0) {
    // After a syntax error the rest of the file means little: keep only what is found before it,
    // and no "missing key" (the key may well be in the part the error hid).
    const firstBad = Math.min(...parsed.problems.map((p) => p.line));
    const before = isMapping(parsed.data)
      ? shapeProblems(parsed).filter((p) => p.line < firstBad && !p.message.includes(MISSING))
      : [];
    return { problems: dedupe([...parsed.problems, ...before]) };
  }
  if (!isMapping(parsed.data)) {
    return { problems: [{ file, line: 1, message: 'a scenario file must be a YAML mapping (name:, title:, workers:, ...)' }] };
  }
  const result = scenarioSchema.safeParse(parsed.data);
  if (!result.success) return { problems: dedupe(shapeProblems(parsed)) };
  const scenario = buildModel(parsed, result.data);
  const problems = semanticProblems(scenario).map((p) => ({ file, ...p }));
  return problems.length > 0 ? { problems: dedupe(problems) } : { scenario, problems: [] };
}

const MISSING = 'missing required key';

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Problems in the shape of the data, plus schedule references when the workers and the schedule
 * are themselves well-formed, so one pass reports an unknown key and a bad schedule together.
 */
function shapeProblems(parsed: ParsedFile): Problem[] {
  const result = scenarioSchema.safeParse(parsed.data);
  if (result.success) return [];
  const problems = result.error.issues.flatMap((i) => issueProblems(parsed, i, []));
  // Step names are enough to check the schedule, even when steps have other problems.
  const data = parsed.data as Record<string, unknown>;
  const schedule = scenarioSchema.shape.schedule.safeParse(data.schedule);
  const workers = isMapping(data.workers)
    ? Object.entries(data.workers).map(([name, steps]) => ({
        name,
        steps: Array.isArray(steps) ? steps.map((s) => ({ name: isMapping(s) && typeof s.name === 'string' ? s.name : '' })) : [],
      }))
    : [];
  if (workers.length > 0 && schedule.success && schedule.data) {
    const refs = schedule.data.map((r, i) => {
      const [worker, step] = r.split('.') as [string, string];
      return { worker, step, line: parsed.lineOf(['schedule', i]) };
    });
    for (const p of checkSchedule(workers, refs, refs[0]?.line ?? 1)) problems.push({ file: parsed.file, ...p });
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// zod issues → problems

type Issue = z.core.$ZodIssue;

function issueProblems(parsed: ParsedFile, issue: Issue, prefix: Path): Problem[] {
  const path = [...prefix, ...(issue.path as (string | number)[])];
  const at = (p: Path, key = false): Problem => ({ file: parsed.file, line: parsed.lineOf(p, key), message: '' });
  const where = path.length > 0 ? `${pathText(path)}: ` : '';
  if (path.length > 0 && issue.code !== 'unrecognized_keys' && issue.code !== 'invalid_key' && valueAt(parsed.data, path) === undefined) {
    const parent = path.slice(0, -1);
    return [{ ...at(parent), message: `${pathText(parent) || 'the file'}: ${MISSING} "${String(path[path.length - 1])}"` }];
  }
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => ({
        ...at([...path, k], true),
        message: `${where}unknown key "${k}"`,
      }));
    case 'invalid_union': {
      // Prefer the branch that matched the value's type: its issues are the specific ones.
      const branches = issue.errors.filter((errs) => !errs.every((e) => e.code === 'invalid_type' && e.path.length === 0));
      if (branches.length === 1) return branches[0]!.flatMap((e) => issueProblems(parsed, e, path));
      const nested = branches.find((errs) => errs.some((e) => e.code === 'invalid_union' || e.code === 'invalid_value'));
      if (nested) return nested.flatMap((e) => issueProblems(parsed, e, path));
      const value = valueAt(parsed.data, path);
      return [{ ...at(path), message: `${where}${describeValue(value)} is not allowed here${expectedTypes(issue)}` }];
    }
    case 'invalid_value':
      return [{
        ...at(path),
        message: `${where}${describeValue(valueAt(parsed.data, path))} is not one of: ${issue.values.map(String).join(', ')}`,
      }];
    case 'invalid_key':
      return [{ ...at(path, true), message: `${where}${issue.issues.map((i) => i.message).join('; ')}` }];
    case 'invalid_type':
      return [{ ...at(path), message: `${where}expected ${issue.expected}, found ${describeValue(valueAt(parsed.data, path))}` }];
    default:
      return [{ ...at(path), message: `${where}${issue.message}` }];
  }
}

function expectedTypes(issue: Extract<Issue, { code: 'invalid_union' }>): string {
  const types = new Set(issue.errors.flatMap((errs) => errs.filter((e) => e.code === 'invalid_type').map((e) => (e as { expected: string }).expected)));
  return types.size > 0 ? ` (expected ${[...types].join(' or ')})` : '';
}

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function valueAt(data: unknown, path: Path): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems
    .filter((p) => {
      const k = `${p.line}:${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.line - b.line);
}

// ---------------------------------------------------------------------------------------------
// validated data → model (with lines)

function buildModel(parsed: ParsedFile, d: ScenarioInput): Scenario {
  const line = (p: Path, key = false) => parsed.lineOf(p, key);
  const sql = (s: SqlInput, p: Path): Sql =>
    typeof s === 'string' ? { all: s, byEngine: {}, line: line(p) } : { byEngine: { ...s }, line: line(p) };
  const ref = (text: string, p: Path): StepRef => {
    const [worker, step] = text.split('.') as [string, string];
    return { worker, step, line: line(p) };
  };
  const step = (s: StepInput, worker: string, p: Path): Step => ({
    worker,
    name: s.name,
    sql: sql(s.sql, [...p, 'sql']),
    save: s.save ?? null,
    catch: catchMap(s.catch, (x, k) => (x === null ? null : sql(x, [...p, 'catch', k]))),
    expectRows: s.expectRows ?? null,
    note: s.note ?? null,
    line: line(p),
  });
  const expectation = (e: ExpectInput, p: Path): Expectation => ({ byEngine: expectByEngine(e), line: line(p) });

  const workers = Object.entries(d.workers).map(([name, steps]) => ({
    name,
    steps: steps.map((s, i) => step(s, name, ['workers', name, i])),
  }));
  const checks: Check[] = d.checks.map((c, i) => ({
    name: c.name,
    sql: sql(c.sql, ['checks', i, 'sql']),
    expect: c.expect,
    anomaly: c.anomaly,
    line: line(['checks', i]),
  }));
  const fixes: Fix[] = Object.entries(d.fixes).map(([name, f]) => {
    const p = ['fixes', name];
    return {
      name,
      title: f.title ?? null,
      story: f.story ?? null,
      setup: (f.setup ?? []).map((s, i) => sql(s, [...p, 'setup', i])),
      replace: Object.entries(f.replace ?? {}).map(([r, s]) => ({
        ref: ref(r, [...p, 'replace', r]),
        sql: sql(s, [...p, 'replace', r]),
      })),
      insert: (f.insert ?? []).map((ins, i) => {
        const ip = [...p, 'insert', i];
        const anchorText = ins.after ?? ins.before ?? '';
        const anchor = ref(anchorText, [...ip, ins.after ? 'after' : 'before']);
        return {
          anchor,
          position: ins.after ? ('after' as const) : ('before' as const),
          step: step(ins.step, anchor.worker, [...ip, 'step']),
          line: line(ip),
        };
      }),
      remove: (f.remove ?? []).map((r, i) => ref(r, [...p, 'remove', i])),
      isolation: f.isolation ?? null,
      retry: f.retry ? { on: f.retry.on, attempts: f.retry.attempts } : null,
      expect: expectation(f.expect, [...p, 'expect']),
      notes: f.notes ?? {},
      line: line(p, true),
    };
  });
  return {
    file: parsed.file,
    name: d.name,
    title: d.title,
    seed: d.seed === undefined ? [] : Array.isArray(d.seed) ? d.seed : [d.seed],
    story: d.story.trim(),
    engines: d.engines ?? null,
    isolation: typeof d.isolation === 'string' ? { default: d.isolation } : d.isolation,
    timeoutMs: d.timeout ?? null,
    setup: d.setup.map((s, i) => sql(s, ['setup', i])),
    teardown: d.teardown.map((s, i) => sql(s, ['teardown', i])),
    workers,
    schedule: d.schedule ? d.schedule.map((r, i) => ref(r, ['schedule', i])) : null,
    checks,
    expect: expectation(d.expect, ['expect']),
    notes: d.notes ?? {},
    fixes,
  };
}

function catchMap<T>(c: StepInput['catch'], sqlOf: (x: SqlInput | null, kind: string) => T | null): Map<ErrorKind, T | null> {
  if (!c) return new Map();
  if (Array.isArray(c)) return new Map(c.map((k) => [k, null]));
  return new Map(Object.entries(c).map(([k, v]) => [k as ErrorKind, sqlOf(v ?? null, k)]));
}

function expectByEngine(e: ExpectInput): Expectation['byEngine'] {
  const norm = (v: string | readonly string[]): Anomaly[] =>
    v === 'clean' ? [] : ((Array.isArray(v) ? [...v] : [v]) as Anomaly[]);
  if (typeof e === 'string' || Array.isArray(e)) return { default: norm(e) };
  const out: Partial<Record<EngineName | 'default', Anomaly[]>> = {};
  for (const [k, v] of Object.entries(e)) if (v !== undefined) out[k as EngineName | 'default'] = norm(v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// references between parts

function semanticProblems(sc: Scenario): { line: number; message: string }[] {
  const problems: { line: number; message: string }[] = [];
  for (const w of sc.workers) {
    const names = new Set<string>();
    for (const s of w.steps) {
      if (names.has(s.name)) problems.push({ line: s.line, message: `worker ${w.name} has two steps named ${s.name}` });
      names.add(s.name);
    }
  }
  const bug = bugShape(sc);
  if (sc.schedule) problems.push(...checkSchedule(sc.workers, sc.schedule, sc.schedule[0]?.line ?? 1));
  problems.push(...checkParams(bug, ''));
  for (const fix of sc.fixes) {
    const { shape, problems: fp } = fixShape(sc, fix);
    problems.push(...fp);
    if (fp.length === 0) problems.push(...checkParams(shape, ` (in fix ${fix.name})`));
  }
  for (const c of sc.checks) {
    const [first] = referencedNames(c.sql);
    if (first !== undefined) {
      problems.push({ line: c.sql.line, message: `check "${c.name}" uses :${first}; checks run after the workers and have no saved values` });
    }
  }
  if (sc.engines) problems.push(...engineCoverage(sc, sc.engines));
  return problems;
}

/** Every SQL text must exist for every engine the scenario declares. */
export function engineCoverage(sc: Scenario, engines: readonly EngineName[]): { line: number; message: string }[] {
  const problems: { line: number; message: string }[] = [];
  const need = (sql: Sql, what: string) => {
    for (const e of engines) {
      if (sqlFor(sql, e) === undefined) problems.push({ line: sql.line, message: `${what} has no SQL for ${e}` });
    }
  };
  sc.setup.forEach((s, i) => need(s, `setup[${i}]`));
  sc.teardown.forEach((s, i) => need(s, `teardown[${i}]`));
  const steps = (ws: readonly { steps: readonly Step[] }[], where: string) => {
    for (const w of ws) {
      for (const s of w.steps) {
        need(s.sql, `step ${s.worker}.${s.name}${where}`);
        for (const [k, c] of s.catch) if (c) need(c, `catch ${k} of ${s.worker}.${s.name}${where}`);
      }
    }
  };
  steps(sc.workers, '');
  for (const fix of sc.fixes) {
    fix.setup.forEach((s, i) => need(s, `fix ${fix.name}: setup[${i}]`));
    for (const r of fix.replace) need(r.sql, `fix ${fix.name}: ${r.ref.worker}.${r.ref.step}`);
    steps(fix.insert.map((i) => ({ steps: [i.step] })), ` (in fix ${fix.name})`);
  }
  sc.checks.forEach((c) => need(c.sql, `check "${c.name}"`));
  for (const e of engines) {
    if (expectationFor(sc.expect, e) === undefined) problems.push({ line: sc.expect.line, message: `expect has no entry for ${e}` });
    for (const f of sc.fixes) {
      if (expectationFor(f.expect, e) === undefined) problems.push({ line: f.expect.line, message: `fix ${f.name}: expect has no entry for ${e}` });
    }
  }
  return problems;
}

/** The SQL for one engine: its own text, MySQL's for MariaDB, or the shared text. */
export function sqlFor(sql: Sql, engine: EngineName): string | undefined {
  if (sql.all !== undefined) return sql.all;
  return sql.byEngine[engine] ?? (engine === 'mariadb' ? sql.byEngine.mysql : undefined);
}

/** A per-engine value: the engine's own, MySQL's for MariaDB, then `default`. */
export function forEngine<T>(by: Readonly<Partial<Record<EngineName | 'default', T>>>, engine: EngineName): T | undefined {
  return by[engine] ?? (engine === 'mariadb' ? by.mysql : undefined) ?? by.default;
}

/** The expectation for one engine, with the same fallbacks as SQL, then `default`. */
export function expectationFor(e: Expectation, engine: EngineName): readonly Anomaly[] | undefined {
  return forEngine(e.byEngine, engine);
}
