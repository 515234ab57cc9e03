/**
 * The `--json` document: the stable contract in design.md (format version 1). Fields may be added,
 * never renamed or removed. Volatile values (PIDs, timings) appear only with --verbose, so the
 * same run gives the same JSON.
 */
import { switches } from '../plan/interleavings.js';
import type { StepRecord } from '../engine/result.js';
import type { Report, VariantReport } from './model.js';
import { reportOk } from './model.js';

export interface JsonOptions {
  verbose?: boolean;
  /** Why the run as a whole failed (exit 2 for a scenario's own SQL): the contract's error object. */
  error?: { kind: string; message: string; problems: readonly { file: string; line: number; message: string }[] };
}

export function toJson(report: Report, opts: JsonOptions = {}): unknown {
  return {
    lockrepro: 1,
    ok: reportOk(report),
    ...(opts.error ? { error: opts.error } : {}),
    database: report.database,
    scenarios: report.scenarios.map((s) => ({
      name: s.scenario.name,
      file: s.scenario.file,
      title: s.scenario.title,
      seed: s.scenario.seed,
      variants: s.variants.map((v) => variantJson(v, !!opts.verbose)),
      ...(s.error ? { error: s.error } : {}),
    })),
    // Scenarios not run because their `engines:` leave this database out.
    skipped: (report.skipped ?? []).map((k) => ({ name: k.scenario.name, file: k.scenario.file, reason: k.reason })),
  };
}

function variantJson(v: VariantReport, verbose: boolean): unknown {
  const { run, verdict } = v;
  const p = run.plan;
  return {
    name: p.name,
    fix: p.fix,
    isolation: p.isolation,
    ...(p.runsAs ? { runsAs: p.runsAs } : {}),
    // A fix that names its own level keeps it under --isolation.
    ...(p.ownIsolationKept ? { ownIsolationKept: true } : {}),
    mode: v.mode,
    runs: v.explored?.runs ?? 1,
    expected: p.expected.length === 0 ? 'clean' : p.expected.join(','),
    observed: verdict.observed.length === 0 ? 'clean' : verdict.observed.join(','),
    met: verdict.met,
    // Only for variants with steps that state waits: (true or false).
    ...(verdict.waits.length > 0
      ? {
          waits: verdict.waits.map((w) => ({
            step: w.step,
            expected: w.expected,
            waited: w.waited,
            met: w.met,
            ...(w.message ? { message: w.message } : {}),
          })),
        }
      : {}),
    counts: verdict.counts,
    note: p.engineNote,
    steps: run.steps.map((s) => stepJson(s, verbose)),
    deadlockReports: run.deadlocks.map((d) => ({ victim: d.victim, cycle: d.cycle, server: d.server })),
    checks: verdict.checks.map((c) => ({
      name: c.name,
      anomaly: c.anomaly,
      passed: c.passed,
      expected: c.expected,
      actual: c.actual,
      ...(c.error ? { error: c.error } : {}),
      ...(verdict.notCounted[c.name] ? { notCounted: verdict.notCounted[c.name] } : {}),
    })),
    ...(v.mode === 'interleavings' ? { interleavings: exploredJson(v) } : {}),
    ...(v.stress ? { rates: v.stress.rates, stress: stressJson(v) } : {}),
    ...(verbose ? { durationMs: round(run.durationMs) } : {}),
  };
}

/** With --interleavings: `steps` and `checks` above are those of the run named in `shown`. */
function exploredJson(v: VariantReport): unknown {
  const ex = v.explored!;
  return {
    total: ex.total <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ex.total) : String(ex.total),
    runs: ex.runs,
    // Partial-order reduction: interleavings not run because an equivalent one was.
    skipped: { equivalent: Number(ex.equivalent ?? 0n), noReductionBecause: ex.noReduction ?? null },
    interrupted: ex.interrupted ?? false,
    failing: ex.failing,
    byAnomaly: ex.byAnomaly,
    shown: {
      switches: switches(v.run.plan.schedule),
      rank: Number(ex.shown.rank),
      schedule: v.run.plan.schedule.map((r) => `${r.worker}.${r.step}`),
    },
  };
}

/** With --stress: `steps` and `checks` above are those of run `shown` (0-based, in start order). */
function stressJson(v: VariantReport): unknown {
  const ex = v.explored!;
  const st = v.stress!;
  return {
    asked: st.asked,
    concurrency: st.concurrency,
    interrupted: st.interrupted,
    failing: ex.failing,
    byAnomaly: ex.byAnomaly,
    histogram: st.histogram,
    shown: Number(ex.shown.rank),
  };
}

function stepJson(s: StepRecord, verbose: boolean): unknown {
  return {
    worker: s.worker,
    step: s.step,
    attempt: s.attempt,
    sql: s.sql,
    ...(Object.keys(s.params).length > 0 ? { params: s.params } : {}),
    status: s.status,
    blocked: s.blocked,
    blockedBy: s.blockedBy,
    // The contract's `lock`, for a step that waited (null when the database did not tell).
    ...(s.blocked ? { lock: s.lock } : {}),
    // null: the statement returns no result set; []: an empty one.
    rows: s.resultSet ? s.rows : null,
    rowCount: s.rowCount,
    truncated: s.truncated,
    error: s.error
      ? {
          code: s.error.code,
          kind: s.error.kind,
          message: s.error.message,
          rolledBack: s.error.rolledBack,
          ...(verbose && s.error.detail ? { detail: s.error.detail } : {}),
        }
      : null,
    handled: s.handled,
    hang: s.hang,
    ...(verbose ? { backendId: s.backendId, startedMs: s.startedMs, waitSeenMs: s.waitSeenMs, endedMs: s.endedMs } : {}),
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
