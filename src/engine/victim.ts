/**
 * How a deadlock victim's wait is told. A victim waited for a lock, even when the database broke
 * the cycle before the monitor saw the wait, or saw it before it could name the holder: it is
 * said the same way every run, once, at the place of its first sighting.
 */
import type { RunEvent, StepRecord } from './result.js';
import { chainToVictim } from './wait-graph.js';

export interface VictimFacts {
  /** The victim's record and its index in the run's records. */
  rec: StepRecord;
  step: number;
  /** Its holders in the database's own deadlock report, by worker name ([] without one). */
  reported: string[];
  /**
   * Without a report: the other in-flight workers' waits (name → holders), when every one of them
   * was seen waiting; null when the report exists or one was not seen (the chain may be incomplete).
   */
  others: ReadonlyMap<string, readonly string[]> | null;
}

/**
 * Names the victim's holders (those the monitor saw, else the report's, else deduced from the
 * chain of waits ending at the victim: wait-graph.ts chainToVictim; none when ambiguous), rewrites
 * its wait events into one, and returns the deduced cycle ([] when none was deduced).
 */
export function tellVictimWait(f: VictimFacts, events: RunEvent[]): string[] {
  const { rec, step } = f;
  const cycle = f.others ? chainToVictim(rec.worker, f.others) : [];
  let names = rec.blockedBy.length > 0 ? rec.blockedBy : f.reported;
  if (names.length === 0) names = cycle.slice(1, 2);
  rec.blockedBy = names;
  rec.blocked = true;
  const wait: RunEvent = { type: 'wait', step, blockedBy: names };
  const first = events.findIndex((e) => e.type === 'wait' && e.step === step);
  if (first < 0) {
    events.push(wait);
    return cycle;
  }
  events[first] = wait;
  for (let i = events.length - 1; i > first; i--) {
    const e = events[i]!;
    if (e.type === 'wait' && e.step === step) events.splice(i, 1);
  }
  return cycle;
}
