/**
 * A variant is the bug (the scenario as written) or one fix applied to it. Applying a fix edits
 * the workers' steps and the schedule; this is engine-independent, so the checker uses it to
 * validate every fix up front and the planner uses it to build runs.
 */
import type { Fix, Scenario, Step, StepRef, Worker } from './model.js';
import { refText } from './model.js';
import { referencedNames } from './params.js';

export interface VariantShape {
  readonly workers: readonly Worker[];
  /** Every step exactly once, each worker's steps in their own order. */
  readonly schedule: readonly StepRef[];
}

export interface ShapeProblem {
  line: number;
  message: string;
}

/** The default schedule: round robin, one step of each worker in turn. */
export function roundRobin(workers: readonly Worker[]): StepRef[] {
  const out: StepRef[] = [];
  const longest = Math.max(...workers.map((w) => w.steps.length));
  for (let i = 0; i < longest; i++) {
    for (const w of workers) {
      const s = w.steps[i];
      if (s) out.push({ worker: w.name, step: s.name, line: s.line });
    }
  }
  return out;
}

/** Just what a schedule check needs of the workers. */
interface NamedSteps {
  readonly name: string;
  readonly steps: readonly { readonly name: string }[];
}

export interface ScheduleCheckOptions {
  /** False when some entries of the schedule could not be read: left-out steps are not reported. */
  readonly complete?: boolean;
  /** Workers whose step names are not all known: entries naming them are not checked. */
  readonly unknownWorker?: (name: string) => boolean;
}

/** Check a schedule against the workers: every step once, in each worker's own order. */
export function checkSchedule(
  workers: readonly NamedSteps[],
  schedule: readonly StepRef[],
  at: number,
  opts: ScheduleCheckOptions = {},
): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const seen = new Set<string>();
  const nextIndex = new Map(workers.map((w) => [w.name, 0]));
  const unknown = opts.unknownWorker ?? (() => false);
  for (const ref of schedule) {
    if (unknown(ref.worker)) continue;
    const w = workers.find((x) => x.name === ref.worker);
    const idx = w?.steps.findIndex((s) => s.name === ref.step) ?? -1;
    if (!w || idx < 0) {
      problems.push({ line: ref.line, message: `schedule names ${refText(ref)}, which ${describeMissing(workers, ref)}` });
      continue;
    }
    if (seen.has(refText(ref))) {
      problems.push({ line: ref.line, message: `schedule names ${refText(ref)} twice` });
      continue;
    }
    seen.add(refText(ref));
    const expected = nextIndex.get(w.name)!;
    if (idx < expected) {
      problems.push({
        line: ref.line,
        message: `schedule puts ${refText(ref)} after a later step of ${w.name}; a worker's steps keep their own order`,
      });
    }
    nextIndex.set(w.name, Math.max(expected, idx + 1));
  }
  for (const w of opts.complete === false ? [] : workers) {
    if (unknown(w.name)) continue;
    for (const s of w.steps) {
      if (!seen.has(`${w.name}.${s.name}`)) {
        problems.push({ line: at, message: `schedule leaves out ${w.name}.${s.name}; list every step once` });
      }
    }
  }
  return problems;
}

function describeMissing(workers: readonly NamedSteps[], ref: StepRef): string {
  const w = workers.find((x) => x.name === ref.worker);
  if (!w) return `is not a worker (workers: ${workers.map((x) => x.name).join(', ')})`;
  return `is not a step of ${w.name} (steps: ${w.steps.map((s) => s.name).join(', ')})`;
}

/** The bug's shape: the scenario's workers and schedule. */
export function bugShape(sc: Scenario): VariantShape {
  return { workers: sc.workers, schedule: sc.schedule ?? roundRobin(sc.workers) };
}

/** Apply a fix to the bug's shape. Problems name the fix's own lines. */
export function fixShape(sc: Scenario, fix: Fix): { shape: VariantShape; problems: ShapeProblem[] } {
  const problems: ShapeProblem[] = [];
  const base = bugShape(sc);
  const steps = new Map(base.workers.map((w) => [w.name, [...w.steps]]));
  let schedule = [...base.schedule];

  const locate = (ref: StepRef): { list: Step[]; index: number } | null => {
    const list = steps.get(ref.worker);
    const index = list?.findIndex((s) => s.name === ref.step) ?? -1;
    if (!list || index < 0) {
      problems.push({ line: ref.line, message: `fix ${fix.name} names ${refText(ref)}, which ${describeMissing(toWorkers(steps), ref)}` });
      return null;
    }
    return { list, index };
  };

  for (const { ref, sql, step } of fix.replace) {
    const at = locate(ref);
    if (!at) continue;
    // A whole step replaces all of the old one but its name and place; new SQL alone keeps the
    // rest (save, catch, expectRows, waits), but not the note, which described the old SQL.
    at.list[at.index] = step ? { ...step, worker: ref.worker, name: ref.step } : { ...at.list[at.index]!, sql, note: null };
  }
  for (const ref of fix.remove) {
    const at = locate(ref);
    if (!at) continue;
    at.list.splice(at.index, 1);
    schedule = schedule.filter((r) => refText(r) !== refText(ref));
  }
  for (const ins of fix.insert) {
    const at = locate(ins.anchor);
    if (!at) continue;
    const step: Step = { ...ins.step, worker: ins.anchor.worker };
    if (at.list.some((s) => s.name === step.name)) {
      problems.push({
        line: ins.line,
        message: `fix ${fix.name} adds step ${refText({ worker: step.worker, step: step.name })}, which already exists`,
      });
      continue;
    }
    at.list.splice(ins.position === 'after' ? at.index + 1 : at.index, 0, step);
    const sIdx = schedule.findIndex((r) => refText(r) === refText(ins.anchor));
    const newRef: StepRef = { worker: step.worker, step: step.name, line: ins.line };
    schedule.splice(ins.position === 'after' ? sIdx + 1 : sIdx, 0, newRef);
  }
  const workers = toWorkers(steps);
  if (fix.schedule && problems.length === 0) {
    const own = checkSchedule(workers, fix.schedule, fix.schedule[0]?.line ?? fix.line);
    problems.push(...own.map((p) => ({ ...p, message: `fix ${fix.name}: ${p.message}` })));
    schedule = [...fix.schedule];
  }
  return { shape: { workers, schedule }, problems };
}

function toWorkers(steps: Map<string, Step[]>): Worker[] {
  return [...steps].map(([name, s]) => ({ name, steps: s }));
}

/**
 * Every `:name` a step uses must be saved by an earlier step of the same worker. A step for which
 * `savesAnything` is true (its `save` could not be read) ends the check of its worker's later steps.
 */
export function checkParams(shape: VariantShape, where: string, savesAnything: (s: Step) => boolean = () => false): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  for (const w of shape.workers) {
    const saved = new Set<string>();
    for (const s of w.steps) {
      for (const n of referencedNames(s.sql)) {
        if (!saved.has(n)) {
          problems.push({
            line: s.sql.line,
            message: `${w.name}.${s.name}${where} uses :${n}, which no earlier step of ${w.name} saves`,
          });
        }
      }
      if (savesAnything(s)) break;
      for (const n of s.save === null ? [] : typeof s.save === 'string' ? [s.save] : s.save) saved.add(n);
    }
  }
  return problems;
}
