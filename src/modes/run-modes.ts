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
import type { Counts } from '../detect/detect.js';
import { histogram, rates, type Rate } from '../detect/rates.js';
import { driveConcurrently } from '../engine/concurrent.js';
import pLimit from 'p-limit';

export type Mode = 'schedule' | 'interleavings' | 'stress';

export interface VariantReport {
  readonly mode: Mode;
  /** The run shown (with several runs: for a bug the first that reproduced it, else the first with an anomaly, else the first). */
  readonly run: VariantRun;
  readonly verdict: Verdict;
  /** With --interleavings or --stress: what all the runs showed. */
  readonly explored?: Exploration;
  /** With --stress: how the runs went. */
  readonly stress?: StressStats;
}

export interface StressStats {
  /** Runs asked for; `explored.runs` is how many ran (fewer after Ctrl-C). */
  readonly asked: number;
  readonly concurrency: number;
  readonly rates: Record<keyof Counts, Rate>;
  readonly histogram: { upToMs: number; runs: number }[];
  /** Stopped by Ctrl-C: what ran so far. */
  readonly interrupted: boolean;
}

/** The variant once, on the scenario's schedule. */
export async function runScheduled(dialect: Dialect, plan: VariantPlan, opts: RunOptions): Promise<VariantReport> {
  const run = await runVariant(dialect, plan, opts);
  return { mode: 'schedule', run, verdict: detect(run) };
}

/** `--interleavings`: the variant once per interleaving (each in its own scratch database), at most `max`. */
export async function runInterleavings(dialect: Dialect, plan: VariantPlan, max: number, opts: RunOptions): Promise<VariantReport> {
  const { total, ranks } = chooseInterleavings(
    plan.workers.map((w) => w.steps.length),
    max,
  );
  const runs: ExploredRun[] = [];
  for (const rank of ranks) {
    if (opts.signal?.aborted) throw new RunAborted();
    const run = await runVariant(dialect, withInterleaving(plan, rank), opts);
    runs.push({ rank, run, verdict: detect(run) });
  }
  const { exploration, verdict } = aggregate(runs, total);
  return { mode: 'interleavings', run: exploration.shown.run, verdict, explored: exploration };
}

/**
 * `--stress n`: the variant n times with its workers truly concurrent (released together, no
 * schedule), `concurrency` runs at once, each in its own scratch database. Ctrl-C stops taking new
 * runs and returns what ran (`interrupted`), or rethrows when nothing did.
 */
export async function runStress(
  dialect: Dialect,
  plan: VariantPlan,
  n: number,
  concurrency: number,
  opts: RunOptions,
  onRun: (done: number) => void = () => undefined,
): Promise<VariantReport> {
  const limit = pLimit(concurrency);
  const runs: ExploredRun[] = [];
  let interrupted = false;
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      limit(async () => {
        if (opts.signal?.aborted) return;
        try {
          const run = await runVariant(dialect, plan, opts, driveConcurrently);
          runs.push({ rank: BigInt(i), run, verdict: detect(run) });
          onRun(runs.length);
        } catch (e) {
          if (!(e instanceof RunAborted)) throw e;
          interrupted = true;
        }
      }),
    ),
  );
  if (opts.signal?.aborted) interrupted = true;
  if (runs.length === 0) throw new RunAborted();
  // Runs finish in any order; reports list them in the order they were started.
  runs.sort((a, b) => (a.rank < b.rank ? -1 : 1));
  const { exploration, verdict } = aggregate(runs, BigInt(n));
  const stress: StressStats = {
    asked: n,
    concurrency,
    rates: rates(runs.map((r) => r.verdict)),
    histogram: histogram(runs.map((r) => r.run.durationMs)),
    interrupted,
  };
  return { mode: 'stress', run: exploration.shown.run, verdict, explored: exploration, stress };
}
