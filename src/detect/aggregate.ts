/**
 * `--interleavings`: one verdict for many runs of a variant, each with another interleaving.
 * A bug reproduces when at least one interleaving shows exactly its expected anomalies, and a
 * fix holds only when none shows any. `observed` is every anomaly any interleaving showed.
 * A pure function, like detect().
 */
import type { VariantRun } from '../engine/result.js';
import type { Anomaly } from '../scenario/schema.js';
import { anomaliesMet, ORDER, type Counts, type Verdict } from './detect.js';
import { switches } from '../plan/interleavings.js';

export interface ExploredRun {
  readonly rank: bigint;
  readonly run: VariantRun;
  readonly verdict: Verdict;
}

export interface Exploration {
  /** How many interleavings exist, and how many were run. */
  readonly total: bigint;
  readonly runs: number;
  /** Runs that showed any anomaly. */
  readonly failing: number;
  /** For each anomaly, how many runs showed it. */
  readonly byAnomaly: Partial<Record<Anomaly, number>>;
  /**
   * The run to show: for a bug one that reproduced it, else one that showed an anomaly, else the
   * first; of those, the one whose schedule switches between workers least (then the first).
   */
  readonly shown: ExploredRun;
  readonly shownBecause: 'reproduced' | 'anomaly' | 'first';
  /** With --interleavings: interleavings not run because an equivalent one was (partial-order reduction). */
  readonly equivalent?: bigint;
  /** Why no interleaving could be skipped, when none could for a reason worth saying. */
  readonly noReduction?: string | null;
  /** With --interleavings: Ctrl-C stopped it; what ran so far. */
  readonly interrupted?: boolean;
}

/** The simplest of these runs to read: fewest switches between workers, then the first. */
function simplest(runs: readonly ExploredRun[]): ExploredRun | undefined {
  let best: ExploredRun | undefined;
  let bestSwitches = Number.POSITIVE_INFINITY;
  for (const r of runs) {
    const n = switches(r.run.plan.schedule);
    if (n < bestSwitches) [best, bestSwitches] = [r, n];
  }
  return best;
}

export function aggregate(runs: readonly ExploredRun[], total: bigint): { exploration: Exploration; verdict: Verdict } {
  const first = runs[0];
  if (!first) throw new Error('aggregate: no runs');
  const counts = { ...first.verdict.counts };
  for (const r of runs.slice(1)) {
    for (const k of Object.keys(counts) as (keyof Counts)[]) counts[k] += r.verdict.counts[k];
  }
  const byAnomaly: Partial<Record<Anomaly, number>> = {};
  for (const r of runs) for (const a of r.verdict.observed) byAnomaly[a] = (byAnomaly[a] ?? 0) + 1;
  const observed = ORDER.filter((a) => byAnomaly[a]);
  const expected = first.verdict.expected;
  // A bug is reproduced when some interleaving shows exactly its anomalies (others may show
  // less, or something else: it can happen, which is the question); a fix holds only when no
  // interleaving shows anything.
  // A step's waits: is about the written schedule (which step comes first decides who waits), so
  // it is judged in the scheduled run only, not over other interleavings or stress runs.
  const shows = (r: ExploredRun) => anomaliesMet(r.verdict.observed, expected);
  const met = expected.length > 0 ? runs.some(shows) : observed.length === 0;
  const reproduced = expected.length > 0 ? simplest(runs.filter(shows)) : undefined;
  const anomalous = simplest(runs.filter((r) => r.verdict.observed.length > 0));
  const shown = reproduced ?? anomalous ?? first;
  const shownBecause = reproduced ? 'reproduced' : anomalous ? 'anomaly' : 'first';
  return {
    exploration: {
      total,
      runs: runs.length,
      failing: runs.filter((r) => r.verdict.observed.length > 0).length,
      byAnomaly,
      shown,
      shownBecause,
    },
    verdict: {
      counts,
      observed,
      expected,
      met,
      handledErrors: runs.reduce((n, r) => n + r.verdict.handledErrors, 0),
      notCounted: shown.verdict.notCounted,
      checks: shown.verdict.checks,
      fault: runs.find((r) => r.verdict.fault)?.verdict.fault ?? null,
      waits: [],
    },
  };
}
