/**
 * Every interleaving of the workers' steps that keeps each worker's own order: the schedules
 * `--interleavings` runs. Two workers of 4 steps have C(8,4) = 70; the number grows fast, so
 * beyond a limit a deterministic, evenly spread selection is run (the same one every time).
 */
import type { VariantPlan } from './plan.js';

type Ref = VariantPlan['schedule'][number];

/** How many interleavings there are: (n1 + … + nk)! / (n1! … nk!), as a bigint. */
export function interleavingCount(counts: readonly number[]): bigint {
  let total = 0n;
  let result = 1n;
  for (const n of counts) {
    // Multiply by C(total + n, n), one factor at a time so every step stays an integer.
    for (let i = 1n; i <= BigInt(n); i++) {
      total += 1n;
      result = (result * total) / i;
    }
  }
  return result;
}

/**
 * The interleaving with this rank, in lexicographic order of worker indices (rank 0 runs the
 * first worker's steps first, then the second's, …; the last rank the reverse).
 */
export function interleavingAt(counts: readonly number[], rank: bigint): number[] {
  const left = [...counts];
  const out: number[] = [];
  let r = rank;
  for (let pos = 0, len = counts.reduce((a, b) => a + b, 0); pos < len; pos++) {
    for (let w = 0; w < left.length; w++) {
      if (left[w] === 0) continue;
      left[w]!--;
      const n = interleavingCount(left);
      if (r < n) {
        out.push(w);
        break;
      }
      r -= n;
      left[w]!++;
    }
  }
  return out;
}

export interface Interleavings {
  /** How many exist. */
  total: bigint;
  /** The ranks run, ascending: all of them, or `max` spread evenly. */
  ranks: bigint[];
}

export function chooseInterleavings(counts: readonly number[], max: number): Interleavings {
  const total = interleavingCount(counts);
  const n = total <= BigInt(max) ? Number(total) : max;
  const ranks = Array.from({ length: n }, (_, i) => (BigInt(i) * total) / BigInt(n));
  return { total, ranks };
}

/** The plan with its schedule replaced by the interleaving of this rank. */
export function withInterleaving(plan: VariantPlan, rank: bigint): VariantPlan {
  const workers = plan.workers;
  const order = interleavingAt(
    workers.map((w) => w.steps.length),
    rank,
  );
  const next = workers.map(() => 0);
  const schedule: Ref[] = order.map((w) => ({ worker: workers[w]!.name, step: workers[w]!.steps[next[w]!++]!.name }));
  return { ...plan, schedule };
}
