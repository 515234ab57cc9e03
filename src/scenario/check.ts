/**
 * Parsed data → checked {@link Scenario}, or every problem at once as `file:line: message`.
 * Shape and types come from the zod schema; references between parts (schedule, fixes, saved
 * values) are checked here. The runner never re-validates.
 */
import { dirname } from 'node:path';
import type { z } from 'zod';
import { ENGINES, type EngineName, type ErrorKind } from '../vocabulary.js';
import { engineCoverage } from './engines.js';
import { bugShape, checkParams, checkSchedule, fixShape } from './variants.js';
import type { Check, Expectation, Fix, Scenario, Sql, Step, StepRef, Worker } from './model.js';
import { referencedNames } from './params.js';
import type { ParsedFile, Path, Problem } from './parse.js';
import { issueProblems, MISSING, pathText, type Issue } from './issues.js';
import { readSqlFiles } from './sql-files.js';
import {
  checkSchema,
  fixSchema,
  scenarioSchema,
  replacementStepSchema,
  sqlFileSchema,
  sqlSchema,
  stepRefSchema,
  stepSchema,
  type Anomaly,
  type ExpectInput,
  type SqlInput,
  type StepInput,
} from './schema.js';

export interface CheckResult {
  scenario?: Scenario;
  problems: Problem[];
}

/** `dir`: where the scenario's `{ file: … }` paths are read from (default: its shown path's folder). */
export function checkScenario(parsed: ParsedFile, dir = dirname(parsed.file)): CheckResult {
  const { file } = parsed;
  if (parsed.problems.length > 0) {
    // After a syntax error the rest of the file means little: keep only what is found before it,
    // and no "missing key" (the key may well be in the part the error hid).
    const firstBad = Math.min(...parsed.problems.map((p) => p.line));
    const before = isMapping(parsed.data)
      ? allProblems(parsed, dir).problems.filter((p) => p.line < firstBad && !p.message.includes(MISSING))
      : [];
    return { problems: dedupe([...parsed.problems, ...before], file) };
  }
  if (!isMapping(parsed.data)) {
    return { problems: [{ file, line: 1, message: 'a scenario file must be a YAML mapping (name:, title:, workers:, ...)' }] };
  }
  const { scenario, problems } = allProblems(parsed, dir);
  return problems.length > 0 ? { problems: dedupe(problems, file) } : { scenario, problems: [] };
}

function isMapping(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  // A plain mapping, not a !!binary Buffer or another object YAML can build.
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Every problem at once: the shape of the data (unknown keys, wrong types, bad values), then the
 * references between parts (schedule, saved values, fixes, engines), checked on every part that
 * is well-formed, so one pass reports an unknown key, a bad schedule and a missing saved value
 * together, without follow-ons of the parts already reported as malformed.
 */
function allProblems(parsed: ParsedFile, dir: string): { scenario: Scenario; problems: Problem[] } {
  const result = scenarioSchema.safeParse(parsed.data);
  const model = buildModel(parsed, dir);
  // A `{ file: … }` entry or a whole replacement step is judged against its own schema (in
  // buildModel): zod's union would blame the per-engine SQL branch (unknown key "file").
  const apart = (i: Issue) => model.judgedApart.some((p) => p.every((seg, k) => i.path[k] === seg));
  const shape = result.success ? [] : result.error.issues.filter((i) => !apart(i)).flatMap((i) => issueProblems(parsed, i, []));
  const refs = [...model.problems, ...semanticProblems(model.scenario, model.unknown)];
  return { scenario: model.scenario, problems: [...shape, ...refs.map((p) => ({ file: parsed.file, ...p }))] };
}

/** Without repeats; the scenario's own problems first, then those in its .sql files, by line. */
function dedupe(problems: Problem[], scenarioFile: string): Problem[] {
  const rank = (p: Problem) => (p.file === scenarioFile ? 0 : 1);
  const seen = new Set<string>();
  return problems
    .filter((p) => {
      const k = `${p.line}:${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file) || a.line - b.line);
}

// ---------------------------------------------------------------------------------------------
// data → model (with lines)

/**
 * What the model built from a file with shape problems does not know, so that the reference
 * checks skip it instead of reporting follow-ons of a problem already reported. A well-formed
 * file has none of these.
 */
interface Unknowns {
  /** `workers` is not a mapping: nothing that names steps can be checked. */
  readonly noWorkers: boolean;
  /** Workers whose step names are not all known (a step without a valid name, no step list). */
  readonly opaqueWorkers: ReadonlySet<string>;
  /** Steps (`worker.step`) whose `save` is malformed: they may save any name. */
  readonly unknownSaves: ReadonlySet<string>;
  /** Placeholders (SQL, expectations) standing for malformed values: not checked. */
  readonly opaque: { has(o: object): boolean };
  /** `ok`, some entries malformed (`incomplete`: left-out steps are not reported), or not a list. */
  readonly schedule: 'ok' | 'incomplete' | 'bad';
  /** Fixes whose edits (replace, insert, remove) are malformed: not applied or checked. */
  readonly brokenFixes: ReadonlySet<string>;
}

const NO_UNKNOWNS: Unknowns = {
  noWorkers: false,
  opaqueWorkers: new Set(),
  unknownSaves: new Set(),
  opaque: new WeakSet(),
  schedule: 'ok',
  brokenFixes: new Set(),
};

/**
 * Build the model leaf by leaf, each part validated by its own piece of the schema. For a valid
 * file this is exactly the validated data (defaults included). For a file with shape problems,
 * the well-formed parts come out as they are and each malformed one as a placeholder recorded in
 * `unknown`, so the reference checks can still run on everything else.
 */
type ModelProblem = { file?: string; line: number; message: string };

function buildModel(
  parsed: ParsedFile,
  dir: string,
): { scenario: Scenario; unknown: Unknowns; problems: ModelProblem[]; judgedApart: Path[] } {
  const d: Record<string, unknown> = isMapping(parsed.data) ? parsed.data : {};
  const line = (p: Path, key = false) => parsed.lineOf(p, key);
  const opaque = new WeakSet<object>();
  const opaqueWorkers = new Set<string>();
  const unknownSaves = new Set<string>();
  const brokenFixes = new Set<string>();
  const problems: ModelProblem[] = [];
  const valid = <S extends z.ZodType>(schema: S, v: unknown): z.output<S> | undefined => {
    const r = schema.safeParse(v);
    return r.success ? r.data : undefined;
  };
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  // Names of workers and fixes. zod's record check passes over a `__proto__` key, which YAML
  // gives as an own key: not a valid name (names start with a letter), so refused here.
  const entries = (v: unknown, key: 'workers' | 'fixes'): [string, unknown][] =>
    (isMapping(v) ? Object.entries(v) : []).filter(([name]) => {
      if (name !== '__proto__') return true;
      problems.push({
        line: line([key, name], true),
        message: `${key}: "__proto__" is not a valid name (start with a letter; letters, digits, '_' and '-')`,
      });
      return false;
    });

  const sql = (v: unknown, p: Path): Sql => {
    const s = valid(sqlSchema, v);
    if (s === undefined) {
      const placeholder: Sql = { byEngine: {}, line: line(p) };
      opaque.add(placeholder);
      return placeholder;
    }
    return typeof s === 'string' ? { all: s, byEngine: {}, line: line(p) } : { byEngine: { ...s }, line: line(p) };
  };
  const T = scenarioSchema.shape;
  const files = { scenarioFile: parsed.file, dir, engines: valid(T.engines, d.engines) ?? ENGINES };
  /** A setup or teardown entry: SQL, or statements read from files. */
  const judgedApart: Path[] = [];
  /** The value at `p` checked against `schema` alone, its problems reported here. */
  const apart = <S extends z.ZodType>(schema: S, v: unknown, p: Path): z.output<S> | undefined => {
    judgedApart.push(p);
    const r = schema.safeParse(v);
    if (!r.success) problems.push(...r.error.issues.flatMap((i) => issueProblems(parsed, i, p)));
    return r.data;
  };
  const entry = (v: unknown, p: Path): Sql => {
    if (!isMapping(v) || !('file' in v)) return sql(v, p);
    const f = apart(sqlFileSchema, v, p);
    if (f === undefined) return sql(undefined, p);
    const r = readSqlFiles(f.file, line(p), pathText(p), files);
    if (r.problems.length > 0) opaque.add(r.sql);
    problems.push(...r.problems);
    return r.sql;
  };
  const ref = (text: string, p: Path): StepRef => {
    const [worker, step] = text.split('.') as [string, string];
    return { worker, step, line: line(p) };
  };
  const expectation = (v: unknown, schema: z.ZodType<ExpectInput>, p: Path): Expectation => {
    const e = valid(schema, v);
    const x: Expectation = { byEngine: e === undefined ? {} : expectByEngine(e), line: line(p) };
    if (e === undefined) opaque.add(x);
    return x;
  };
  const S = stepSchema.shape;
  const step = (raw: unknown, worker: string, p: Path): Step => {
    const s: Record<string, unknown> = isMapping(raw) ? raw : {};
    const name = valid(S.name, s.name);
    if (name === undefined) opaqueWorkers.add(worker);
    const save = S.save.safeParse(s.save);
    if (!save.success) unknownSaves.add(`${worker}.${name ?? ''}`);
    return {
      worker,
      name: name ?? '',
      sql: sql(s.sql, [...p, 'sql']),
      save: save.success ? (save.data ?? null) : null,
      catch: catchMap(valid(S.catch, s.catch), (x, k) => (x === null ? null : sql(x, [...p, 'catch', k]))),
      expectRows: valid(S.expectRows, s.expectRows) ?? null,
      waits: valid(S.waits, s.waits) ?? null,
      note: valid(S.note, s.note) ?? null,
      line: line(p),
    };
  };

  const workers: Worker[] = entries(d.workers, 'workers').map(([name, steps]) => {
    if (!Array.isArray(steps) || steps.length === 0) opaqueWorkers.add(name);
    return { name, steps: list(steps).map((s, i) => step(s, name, ['workers', name, i])) };
  });

  let schedule: StepRef[] | null = null;
  let scheduleState: Unknowns['schedule'] = 'ok';
  if (d.schedule !== undefined) {
    if (!Array.isArray(d.schedule)) scheduleState = 'bad';
    else {
      schedule = d.schedule.flatMap((r, i) => {
        const text = valid(stepRefSchema, r);
        if (text === undefined) scheduleState = 'incomplete';
        return text === undefined ? [] : [ref(text, ['schedule', i])];
      });
    }
  }

  const checks: Check[] = list(d.checks).flatMap((raw, i) => {
    if (!isMapping(raw)) return [];
    const C = checkSchema.shape;
    return [
      {
        name: valid(C.name, raw.name) ?? `checks[${i}]`,
        sql: sql(raw.sql, ['checks', i, 'sql']),
        expect: valid(C.expect, raw.expect) ?? null,
        anomaly: valid(C.anomaly, raw.anomaly) ?? 'invariant',
        line: line(['checks', i]),
      },
    ];
  });

  const F = fixSchema.shape;
  const fixes: Fix[] = entries(d.fixes, 'fixes').map(([name, raw]) => {
    const f: Record<string, unknown> = isMapping(raw) ? raw : {};
    const p = ['fixes', name];
    const replace = F.replace.safeParse(f.replace);
    const insert = F.insert.safeParse(f.insert);
    const remove = F.remove.safeParse(f.remove);
    const schedule = F.schedule.safeParse(f.schedule);
    if (!isMapping(raw) || !replace.success || !insert.success || !remove.success || !schedule.success) brokenFixes.add(name);
    (insert.data ?? []).forEach((ins, i) => {
      if ((ins.after === undefined) === (ins.before === undefined)) {
        problems.push({
          line: line([...p, 'insert', i]),
          message: `fixes.${name}.insert[${i}]: give exactly one of after: or before: (where the step goes)`,
        });
        brokenFixes.add(name);
      }
    });
    const retry = valid(F.retry, f.retry);
    return {
      name,
      title: valid(F.title, f.title) ?? null,
      story: valid(F.story, f.story) ?? null,
      setup: list(f.setup).map((s, i) => entry(s, [...p, 'setup', i])),
      replace: (isMapping(f.replace) ? Object.entries(f.replace) : []).flatMap(([r, s]): Fix['replace'][number][] => {
        if (valid(stepRefSchema, r) === undefined) return [];
        const rp = [...p, 'replace', r];
        const target = ref(r, rp);
        // A mapping with a step's keys (sql:, save:, …) is a whole step; any other value is SQL.
        if (!isMapping(s) || !Object.keys(s).some((k) => k in replacementStepSchema.shape))
          return [{ ref: target, sql: sql(s, rp), step: null }];
        apart(replacementStepSchema, s, rp);
        const whole = step({ ...s, name: target.step }, target.worker, rp);
        return [{ ref: target, sql: whole.sql, step: whole }];
      }),
      insert: (insert.data ?? []).map((ins, i) => {
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
      remove: (remove.data ?? []).map((r, i) => ref(r, [...p, 'remove', i])),
      schedule: schedule.data?.map((r, i) => ref(r, [...p, 'schedule', i])) ?? null,
      isolation: valid(F.isolation, f.isolation) ?? null,
      retry: retry ? { on: retry.on, attempts: retry.attempts } : null,
      expect: expectation(f.expect, F.expect, [...p, 'expect']),
      notes: valid(F.notes, f.notes) ?? {},
      line: line(p, true),
    };
  });

  const seed = valid(T.seed, d.seed);
  const isolation = valid(T.isolation, d.isolation) ?? 'read-committed';
  const scenario: Scenario = {
    file: parsed.file,
    name: valid(T.name, d.name) ?? '',
    title: valid(T.title, d.title) ?? '',
    seed: seed === undefined ? [] : Array.isArray(seed) ? seed : [seed],
    story: (valid(T.story, d.story) ?? '').trim(),
    engines: valid(T.engines, d.engines) ?? null,
    isolation: typeof isolation === 'string' ? { default: isolation } : isolation,
    timeoutMs: valid(T.timeout, d.timeout) ?? null,
    setup: list(d.setup).map((s, i) => entry(s, ['setup', i])),
    teardown: list(d.teardown).map((s, i) => entry(s, ['teardown', i])),
    workers,
    schedule,
    checks,
    expect: expectation(d.expect, T.expect, ['expect']),
    notes: valid(T.notes, d.notes) ?? {},
    fixes,
  };
  const unknown: Unknowns = {
    noWorkers: !isMapping(d.workers),
    opaqueWorkers,
    unknownSaves,
    opaque,
    schedule: scheduleState,
    brokenFixes,
  };
  return { scenario, unknown, problems, judgedApart };
}

function catchMap<T>(c: StepInput['catch'], sqlOf: (x: SqlInput | null, kind: string) => T | null): Map<ErrorKind, T | null> {
  if (!c) return new Map();
  if (Array.isArray(c)) return new Map(c.map((k) => [k, null]));
  return new Map(Object.entries(c).map(([k, v]) => [k as ErrorKind, sqlOf(v ?? null, k)]));
}

function expectByEngine(e: ExpectInput): Expectation['byEngine'] {
  const norm = (v: string | readonly string[]): Anomaly[] => (v === 'clean' ? [] : ((Array.isArray(v) ? [...v] : [v]) as Anomaly[]));
  if (typeof e === 'string' || Array.isArray(e)) return { default: norm(e) };
  const out: Partial<Record<EngineName | 'default', Anomaly[]>> = {};
  for (const [k, v] of Object.entries(e)) if (v !== undefined) out[k as EngineName | 'default'] = norm(v);
  return out;
}

// ---------------------------------------------------------------------------------------------
// references between parts

function semanticProblems(sc: Scenario, unknown: Unknowns = NO_UNKNOWNS): { line: number; message: string }[] {
  const problems: { line: number; message: string }[] = [];
  for (const w of sc.workers) {
    const names = new Set<string>();
    for (const s of w.steps) {
      if (names.has(s.name)) problems.push({ line: s.line, message: `worker ${w.name} has two steps named ${s.name}` });
      if (s.name !== '') names.add(s.name);
    }
  }
  if (!unknown.noWorkers) {
    const bug = bugShape(sc);
    const opaque = (worker: string) => unknown.opaqueWorkers.has(worker);
    const savesAnything = (s: Step) => unknown.unknownSaves.has(`${s.worker}.${s.name}`);
    if (sc.schedule && unknown.schedule !== 'bad') {
      problems.push(
        ...checkSchedule(sc.workers, sc.schedule, sc.schedule[0]?.line ?? 1, {
          complete: unknown.schedule === 'ok',
          unknownWorker: opaque,
        }),
      );
    }
    problems.push(...checkParams(bug, '', savesAnything));
    for (const fix of sc.fixes) {
      // A fix touching a worker whose steps are not all known could only be checked wrongly.
      const touched = [...fix.replace.map((r) => r.ref), ...fix.remove, ...fix.insert.map((i) => i.anchor)];
      if (unknown.brokenFixes.has(fix.name) || touched.some((r) => opaque(r.worker))) continue;
      const { shape, problems: fp } = fixShape(sc, fix);
      problems.push(...fp);
      if (fp.length === 0) problems.push(...checkParams(shape, ` (in fix ${fix.name})`, savesAnything));
    }
  }
  for (const c of sc.checks) {
    const [first] = referencedNames(c.sql);
    if (first !== undefined) {
      problems.push({
        line: c.sql.line,
        message: `check "${c.name}" uses :${first}; checks run after the workers and have no saved values`,
      });
    }
  }
  if (sc.engines) {
    const fixes = sc.fixes.filter((f) => !unknown.brokenFixes.has(f.name));
    problems.push(...engineCoverage({ ...sc, fixes }, sc.engines, unknown.opaque));
  }
  return problems;
}
