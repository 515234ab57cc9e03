/**
 * How a variant is run: once on its schedule, or once per interleaving of its workers' steps.
 * Each mode runs the engine and judges the runs (detect/); the CLI only picks one. A mode's result
 * is what reporters render.
 */
import type { Dialect } from '../engine/dialect.js';
import { availableParallelism } from 'node:os';
import { LanePool, RunAborted, runVariant, type Driver, type RunOptions } from '../engine/run.js';
import type { VariantRun } from '../engine/result.js';
import { chooseReduced, withInterleaving } from '../plan/interleavings.js';
import { independence } from '../plan/reduction.js';
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
  /** The run shown (with several runs: for a bug one that reproduced it, else one with an anomaly, else the first; of those the one with the fewest switches between workers). */
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

/**
 * The variant once, on the scenario's schedule; in `lane`'s scratch database when given (the
 * variants of one scenario share one, reset between them).
 */
export async function runScheduled(dialect: Dialect, plan: VariantPlan, opts: RunOptions, pool?: LanePool): Promise<VariantReport> {
  const lane = pool?.take();
  try {
    const run = await runVariant(dialect, plan, opts, undefined, lane);
    return { mode: 'schedule', run, verdict: detect(run) };
  } finally {
    if (lane) pool!.give(lane);
  }
}

/**
 * Interleavings run at once by default: each run waits on the database most of the time (round
 * trips, lock waits, the deadlock detector), so twice the cores keeps them busy.
 */
export const DEFAULT_INTERLEAVING_LANES = Math.max(1, Math.min(4, availableParallelism() * 2));

/**
 * Without --concurrency, one lane per this many interleavings: a lane costs a CREATE and a DROP
 * DATABASE (0.2-0.6 s on a loaded PostgreSQL, one after another on the dialect's connection), a
 * reset run about 60 ms, and two cores do not run two lanes twice as fast. Measured on PostgreSQL
 * 15 (ab-ba-deadlock's 20 reduced interleavings, load average 3-4): 1 lane 1.9 s, 2 lanes 3.1 s,
 * 4 lanes 2.9-4.0 s.
 */
export const RUNS_PER_LANE = 25;

/**
 * `--interleavings`: the variant once per interleaving, at most `max`, less those equivalent to
 * one that runs (partial-order reduction, plan/reduction.ts); `lanes` at once, each lane with its
 * own scratch database reset between its runs. Ctrl-C stops taking new runs and returns what ran.
 */
export async function runInterleavings(
  dialect: Dialect,
  plan: VariantPlan,
  max: number,
  opts: RunOptions,
  pool: LanePool | number = DEFAULT_INTERLEAVING_LANES,
  onRun: (done: number, of: number) => void = () => undefined,
  /** Runs at once (--concurrency); by default one lane per RUNS_PER_LANE runs, at most the pool's. */
  lanes?: number,
): Promise<VariantReport> {
  const ind = independence(plan);
  const chosen = chooseReduced(
    plan.workers.map((w) => w.steps.length),
    max,
    ind.independent,
  );
  const jobs = chosen.ranks.map((rank) => ({ rank, plan: withInterleaving(plan, rank) }));
  const atOnce = lanes ?? Math.ceil(jobs.length / RUNS_PER_LANE);
  const runs = await runMany(dialect, jobs, pool, opts, undefined, (done) => onRun(done, chosen.ranks.length), atOnce);
  const { exploration, verdict } = aggregate(runs.runs, chosen.total);
  const explored = { ...exploration, equivalent: chosen.equivalent, noReduction: ind.none, interrupted: runs.interrupted };
  return { mode: 'interleavings', run: exploration.shown.run, verdict, explored };
}

/**
 * Run these plans, `lanes` at once, each lane in its own scratch database reset between its runs.
 * On an error, no new run starts, the running ones end, every lane's scratch is dropped, and the
 * first error is thrown. Ctrl-C: what ran, sorted by rank, and `interrupted` (RunAborted if nothing ran).
 */
async function runMany(
  dialect: Dialect,
  jobs: readonly { rank: bigint; plan: VariantPlan }[],
  lanes: LanePool | number,
  opts: RunOptions,
  drive: Driver | undefined,
  onRun: (done: number) => void,
  atOnce = Number.POSITIVE_INFINITY,
): Promise<{ runs: ExploredRun[]; interrupted: boolean }> {
  const runs: ExploredRun[] = [];
  const pool = typeof lanes === 'number' ? new LanePool(dialect, jobs[0]?.plan.scenario.name ?? '', lanes) : lanes;
  // Lanes create their scratch database when first taken: the ones not used cost nothing.
  const limit = pLimit(Math.max(1, Math.min(pool.size, jobs.length, atOnce)));
  let failure: { e: unknown } | null = null;
  let interrupted = false;
  try {
    await Promise.all(
      jobs.map((job) =>
        limit(async () => {
          if (opts.signal?.aborted || failure) return;
          const lane = pool.take();
          try {
            const run = await runVariant(dialect, job.plan, opts, drive, lane);
            runs.push({ rank: job.rank, run, verdict: detect(run) });
            onRun(runs.length);
          } catch (e) {
            if (e instanceof RunAborted) interrupted = true;
            else failure ??= { e };
          } finally {
            pool.give(lane);
          }
        }),
      ),
    );
  } finally {
    // A pool of its own is dropped here; a caller's pool is the caller's to close.
    if (pool !== lanes) await pool.close();
  }
  if (failure) throw (failure as { e: unknown }).e;
  if (opts.signal?.aborted) interrupted = true;
  if (runs.length === 0) throw new RunAborted();
  // Runs finish in any order; reports take them in rank order (the order they were started).
  runs.sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0));
  return { runs, interrupted };
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
  concurrency: LanePool | number,
  opts: RunOptions,
  onRun: (done: number) => void = () => undefined,
): Promise<VariantReport> {
  const jobs = Array.from({ length: n }, (_, i) => ({ rank: BigInt(i), plan }));
  const { runs, interrupted } = await runMany(dialect, jobs, concurrency, opts, driveConcurrently, onRun);
  const { exploration, verdict } = aggregate(runs, BigInt(n));
  const stress: StressStats = {
    asked: n,
    concurrency: typeof concurrency === 'number' ? concurrency : concurrency.size,
    rates: rates(runs.map((r) => r.verdict)),
    histogram: histogram(runs.map((r) => r.run.durationMs)),
    interrupted,
  };
  return { mode: 'stress', run: exploration.shown.run, verdict, explored: exploration, stress };
}
