/**
 * Run result → counts, observed anomalies and a verdict. A pure function: no database.
 *
 * Counts say what happened (a deadlock that a fix retried is still a deadlock). The verdict looks
 * at what the application was left with: errors a step caught or a retry absorbed are handled,
 * everything else (unhandled errors, hangs, failed checks) is an observed anomaly, and the variant
 * meets its expectation when the observed anomalies are exactly the expected ones.
 */
import type { ErrorKind } from '../vocabulary.js';
import type { VariantRun } from '../engine/result.js';
import { judgeCheck, type CheckOutcome } from './compare.js';
import { ANOMALIES, type Anomaly } from '../scenario/schema.js';

export interface Counts {
  deadlocks: number;
  duplicates: number;
  lostUpdates: number;
  invariantViolations: number;
  serializationFailures: number;
  lockTimeouts: number;
  uniqueViolations: number;
  hangs: number;
  retries: number;
  /** Errors of other kinds (not in the contract's original list; an extension). */
  otherErrors: number;
}

export interface Verdict {
  counts: Counts;
  /** Anomalies observed, in a fixed order. */
  observed: Anomaly[];
  expected: readonly Anomaly[];
  met: boolean;
  /** Whether a handled error (caught or retried) was needed to come out clean. */
  handledErrors: number;
  /** Failed checks not counted as their anomaly, by check name, and why. */
  notCounted: Record<string, string>;
  /** Each check of the run, judged. */
  checks: CheckOutcome[];
  /** The scenario's own SQL is wrong (a step's or a check's): exit 2, not a finding. */
  fault: ScenarioFault | null;
  /** Each step's `waits:` expectation, judged (steps that state none are not listed). */
  waits: WaitOutcome[];
}

/** A step's `waits:` expectation against what the run showed. */
export interface WaitOutcome {
  /** `worker.step`. */
  readonly step: string;
  readonly line: number;
  readonly expected: boolean;
  /** Whether the step waited on a lock (in any attempt); null when it never ran. */
  readonly waited: boolean | null;
  readonly met: boolean;
  /** For an unmet one: what happened, naming the step. */
  readonly message: string | null;
}

export interface ScenarioFault {
  readonly line: number;
  /** The server's code, or `columns` for an expected row naming other columns than the query's. */
  readonly code: string;
  readonly message: string;
}

const KIND_ANOMALY: Record<ErrorKind, Anomaly> = {
  deadlock: 'deadlock',
  serialization: 'serialization',
  'unique-violation': 'unique-violation',
  'lock-timeout': 'lock-timeout',
  timeout: 'error',
  other: 'error',
};

/** Anomalies in the order reports list them: the order the scenario format lists them in. */
export const ORDER: readonly Anomaly[] = ANOMALIES;

/** Every count at zero, to count a run's events into. */
export function noCounts(): Counts {
  return {
    deadlocks: 0,
    duplicates: 0,
    lostUpdates: 0,
    invariantViolations: 0,
    serializationFailures: 0,
    lockTimeouts: 0,
    uniqueViolations: 0,
    hangs: 0,
    retries: 0,
    otherErrors: 0,
  };
}

export function detect(run: VariantRun): Verdict {
  const counts = noCounts();
  const observed = new Set<Anomaly>();
  let handledErrors = 0;

  for (const s of run.steps) {
    if (s.hang) {
      counts.hangs++;
      observed.add('hang');
      continue;
    }
    if (!s.error) continue;
    switch (s.error.kind) {
      case 'deadlock':
        counts.deadlocks++;
        break;
      case 'serialization':
        counts.serializationFailures++;
        break;
      case 'lock-timeout':
        counts.lockTimeouts++;
        break;
      case 'unique-violation':
        counts.uniqueViolations++;
        break;
      default:
        counts.otherErrors++;
    }
    if (s.handled) handledErrors++;
    else observed.add(KIND_ANOMALY[s.error.kind]);
  }
  counts.retries = run.events.filter((e) => e.type === 'retry').length;

  // A lost-update check compares the final value with what every worker's change should have
  // made it. When a worker's transaction failed and was rolled back, its change never happened:
  // the value differs, but nothing was lost (the error is what the run shows).
  const gaveUp = [...new Set(run.events.flatMap((e) => (e.type === 'rollback' && e.reason !== 'retry' ? [e.worker] : [])))];
  const notCounted: Record<string, string> = {};
  const checks = run.checks.map(judgeCheck);
  for (const c of checks) {
    if (c.passed) continue;
    if (c.error) {
      observed.add('error');
      continue;
    }
    if (c.anomaly === 'lost-update' && gaveUp.length > 0) {
      const who = gaveUp.join(' and ');
      notCounted[c.name] =
        `not a lost update: ${who}'s transaction failed and was rolled back, so ${gaveUp.length > 1 ? 'their changes' : 'its change'} never happened`;
      continue;
    }
    switch (c.anomaly) {
      case 'lost-update':
        counts.lostUpdates++;
        break;
      case 'duplicates':
        counts.duplicates += extraRows(c.expected, c.actual);
        break;
      default:
        counts.invariantViolations++;
    }
    observed.add(c.anomaly);
  }

  const obs = ORDER.filter((a) => observed.has(a));
  const expected = run.plan.expected;
  const waits = judgeWaits(run);
  const met = anomaliesMet(obs, expected) && waits.every((w) => w.met);
  return { counts, observed: obs, expected, met, handledErrors, notCounted, checks, fault: faultOf(run, checks), waits };
}

/** The anomalies shown are exactly the expected ones. */
export function anomaliesMet(observed: readonly Anomaly[], expected: readonly Anomaly[]): boolean {
  return observed.length === expected.length && expected.every((e) => observed.includes(e));
}

/**
 * `waits: false` holds when no attempt of the step waited (a step that never ran did not wait);
 * `waits: true` when some attempt waited: a step that never ran could not show it, and fails.
 */
function judgeWaits(run: VariantRun): WaitOutcome[] {
  return run.plan.workers.flatMap((w) =>
    w.steps.flatMap((s) => {
      if (s.waits === null) return [];
      const step = `${w.name}.${s.name}`;
      const ran = run.steps.filter((r) => r.worker === w.name && r.step === s.name && !r.recovery && r.status !== 'not-run');
      const waited = ran.length === 0 ? null : ran.some((r) => r.blocked);
      const by = [...new Set(ran.flatMap((r) => r.blockedBy))];
      const met = s.waits ? waited === true : waited !== true;
      const message = met
        ? null
        : s.waits
          ? `${step} was expected to wait on a lock (waits: true) but ${waited === null ? 'never ran' : 'did not wait'}`
          : `${step} waited on a lock${by.length > 0 ? ` held by ${by.join(', ')}` : ''}; it must not wait (waits: false)`;
      return [{ step, line: s.line, expected: s.waits, waited, met, message }];
    }),
  );
}

/** For a count check (expected 1, found 3): 2 duplicate rows; otherwise one finding. */
function extraRows(expected: unknown, actual: unknown): number {
  const e = Number(expected);
  const a = Number(actual);
  return Number.isFinite(e) && Number.isFinite(a) && a > e ? a - e : 1;
}

/** The first step whose statement the server called wrong, else the first check that could not be compared. */
function faultOf(run: VariantRun, checks: readonly CheckOutcome[]): ScenarioFault | null {
  const step = run.steps.find((s) => s.error?.invalidSql);
  if (step)
    return { line: step.line, code: step.error!.code, message: `${step.worker}.${step.step}: ${step.error!.code} ${step.error!.message}` };
  const i = checks.findIndex((c) => c.error !== null);
  if (i < 0) return null;
  return { line: run.checks[i]!.line, code: run.checks[i]!.code ?? 'columns', message: `check "${checks[i]!.name}": ${checks[i]!.error}` };
}
