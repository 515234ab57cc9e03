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

/** Interleavings enumerated one by one for the reduction up to this many; beyond, a spread sample. */
export const ENUMERATE_LIMIT = 50_000;

export interface ReducedInterleavings extends Interleavings {
  /** Interleavings not run because one equivalent to each is run (among all, or among the sample). */
  equivalent: bigint;
  /** Among the sample only (total above ENUMERATE_LIMIT), or all of them. */
  sampled: boolean;
}

/**
 * The interleavings to run with partial-order reduction: of each class of interleavings that
 * differ only by swapping adjacent independent steps of different workers, only its
 * lexicographically smallest member (by worker index) runs. A word is that member exactly when no
 * step could move left, past steps it is independent of, in front of a step of a later worker
 * (Anisimov and Knuth's normal form of a trace), which needs no look at the other members.
 */
export function chooseReduced(
  counts: readonly number[],
  max: number,
  independent: (a: number, i: number, b: number, j: number) => boolean,
): ReducedInterleavings {
  const total = interleavingCount(counts);
  const sampled = total > BigInt(ENUMERATE_LIMIT);
  const candidates = sampled ? chooseInterleavings(counts, max).ranks : Array.from({ length: Number(total) }, (_, i) => BigInt(i));
  const kept = candidates.filter((r) => isNormal(interleavingAt(counts, r), independent));
  const n = Math.min(kept.length, max);
  const ranks = Array.from({ length: n }, (_, i) => kept[Math.floor((i * kept.length) / n)]!);
  const equivalent = BigInt(candidates.length - kept.length);
  return { total, ranks, equivalent, sampled };
}

/** Whether this order of worker indices is the smallest of its class (see chooseReduced). */
export function isNormal(order: readonly number[], independent: (a: number, i: number, b: number, j: number) => boolean): boolean {
  const pos: number[] = [];
  const seen = new Map<number, number>();
  for (const w of order) {
    pos.push(seen.get(w) ?? 0);
    seen.set(w, (seen.get(w) ?? 0) + 1);
  }
  for (let j = 1; j < order.length; j++) {
    const b = order[j]!;
    for (let k = j - 1; k >= 0; k--) {
      const a = order[k]!;
      if (a === b || !independent(a, pos[k]!, b, pos[j]!)) break;
      if (a > b) return false;
    }
  }
  return true;
}

/** How often the schedule passes from one worker to another: the smaller, the easier to follow. */
export function switches(schedule: readonly { readonly worker: string }[]): number {
  let n = 0;
  for (let i = 1; i < schedule.length; i++) if (schedule[i]!.worker !== schedule[i - 1]!.worker) n++;
  return n;
}
