/**
 * How a variant is run: once on its schedule, or once per interleaving of its workers' steps.
 * Each mode runs the engine and judges the runs (detect/); the CLI only picks one. A mode's result
 * is what reporters render.
 */
import type { Dialect } from '../engine/dialect.js';
import { RunAborted, runVariant, type RunOptions } from '../engine/run.js';
import type { VariantRun } from '../engine/result.js';
import { chooseInterleavings, withInterleaving } from '../plan/interleavings.js';
import type { VariantPlan } from '../plan/plan.js';
import { detect, type Verdict } from '../detect/detect.js';
import { aggregate, type Exploration, type ExploredRun } from '../detect/aggregate.js';

export interface VariantReport {
  /** The run shown (with --interleavings: the first that showed an anomaly, or the first). */
  readonly run: VariantRun;
  readonly verdict: Verdict;
  /** With --interleavings: what all the runs showed. */
  readonly explored?: Exploration;
}

/** The variant once, on the scenario's schedule. */
export async function runScheduled(dialect: Dialect, plan: VariantPlan, opts: RunOptions): Promise<VariantReport> {
  const run = await runVariant(dialect, plan, opts);
  return { run, verdict: detect(run) };
}

/** `--interleavings`: the variant once per interleaving (each in its own scratch database), at most `max`. */
export async function runInterleavings(dialect: Dialect, plan: VariantPlan, max: number, opts: RunOptions): Promise<VariantReport> {
  const { total, ranks } = chooseInterleavings(plan.workers.map((w) => w.steps.length), max);
  const runs: ExploredRun[] = [];
  for (const rank of ranks) {
    if (opts.signal?.aborted) throw new RunAborted();
    const run = await runVariant(dialect, withInterleaving(plan, rank), opts);
    runs.push({ rank, run, verdict: detect(run) });
  }
  const { exploration, verdict } = aggregate(runs, total);
  return { run: exploration.shown.run, verdict, explored: exploration };
}
