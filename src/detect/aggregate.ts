/**
 * `--interleavings`: one verdict for many runs of a variant, each with another interleaving.
 * A bug reproduces when at least one interleaving shows exactly its expected anomalies, and a
 * fix holds only when none shows any. `observed` is every anomaly any interleaving showed.
 * A pure function, like detect().
 */
import type { VariantRun } from '../engine/result.js';
import type { Anomaly } from '../scenario/schema.js';
import { ORDER, type Counts, type Verdict } from './detect.js';

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
  /** The run to show: for a bug the first that reproduced it, else the first that showed an anomaly, else the first. */
  readonly shown: ExploredRun;
  readonly shownBecause: 'reproduced' | 'anomaly' | 'first';
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
  // A step's waits: expectation must hold in every run of a fix, and in the run that reproduces a bug.
  const waitsHeld = runs.every((r) => r.verdict.waits.every((w) => w.met));
  const met = expected.length > 0 ? runs.some((r) => r.verdict.met) : observed.length === 0 && waitsHeld;
  const reproduced = expected.length > 0 ? runs.find((r) => r.verdict.met) : undefined;
  const anomalous = runs.find((r) => r.verdict.observed.length > 0);
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
      // For a fix, a step that broke its waits: in any run is named (the first such run's outcome).
      waits: shown.verdict.waits.map(
        (w) => (expected.length > 0 ? undefined : runs.flatMap((r) => r.verdict.waits).find((o) => o.step === w.step && !o.met)) ?? w,
      ),
    },
  };
}
