/**
 * Stress mode's numbers: how many runs showed each count, as a rate with a 95 % Wilson score
 * interval (sound at 0 and at n, unlike the normal approximation), and how long runs took.
 */
import type { Counts, Verdict } from './detect.js';

export interface Rate {
  /** Runs in which the count was at least 1. */
  readonly runs: number;
  readonly rate: number;
  readonly low: number;
  readonly high: number;
}

/** The 95 % Wilson score interval of k successes in n trials. */
export function wilson(k: number, n: number): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const z = 1.959963984540054;
  const p = k / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return { low: round(Math.max(0, centre - half)), high: round(Math.min(1, centre + half)) };
}

/** For every count of the contract: in how many of the runs it was non-zero. */
export function rates(verdicts: readonly Verdict[]): Record<keyof Counts, Rate> {
  const n = verdicts.length;
  const keys = Object.keys(verdicts[0]?.counts ?? {}) as (keyof Counts)[];
  return Object.fromEntries(
    keys.map((key) => {
      const k = verdicts.filter((v) => v.counts[key] > 0).length;
      return [key, { runs: k, rate: n === 0 ? 0 : round(k / n), ...wilson(k, n) }];
    }),
  ) as Record<keyof Counts, Rate>;
}

/** Run durations in buckets whose bounds double (1, 2, 4, … ms): a histogram that reads at any scale. */
export function histogram(durationsMs: readonly number[]): { upToMs: number; runs: number }[] {
  const out: { upToMs: number; runs: number }[] = [];
  for (const d of durationsMs) {
    let bound = 1;
    while (bound < d) bound *= 2;
    const bucket = out.find((b) => b.upToMs === bound);
    if (bucket) bucket.runs++;
    else out.push({ upToMs: bound, runs: 1 });
  }
  return out.sort((a, b) => a.upToMs - b.upToMs);
}

function round(x: number): number {
  return Math.round(x * 10000) / 10000;
}
