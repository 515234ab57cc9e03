// --interleavings: which schedules are run, and how their verdicts combine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseInterleavings, interleavingAt, interleavingCount } from '../../src/plan/interleavings.js';
import { aggregate, type ExploredRun } from '../../src/detect/aggregate.js';
import { noCounts, type Verdict } from '../../src/detect/detect.js';
import type { VariantRun } from '../../src/engine/result.js';

test('counts: (n1 + n2)! / (n1! n2!), and more workers', () => {
  assert.equal(interleavingCount([4, 4]), 70n);
  assert.equal(interleavingCount([2, 2, 2]), 90n);
  assert.equal(interleavingCount([7, 7]), 3432n);
  assert.equal(interleavingCount([]), 1n);
});

test('every rank is a different interleaving that keeps each worker in its own order', () => {
  const counts = [3, 2, 2];
  const total = Number(interleavingCount(counts));
  const seen = new Set<string>();
  for (let r = 0; r < total; r++) {
    const order = interleavingAt(counts, BigInt(r));
    assert.deepEqual(
      counts.map((_, w) => order.filter((x) => x === w).length),
      counts,
    );
    seen.add(order.join(''));
  }
  assert.equal(seen.size, total);
  assert.deepEqual(interleavingAt([2, 2], 0n), [0, 0, 1, 1]);
  assert.deepEqual(interleavingAt([2, 2], 5n), [1, 1, 0, 0]);
});

test('beyond the limit, an evenly spread selection, the same every time', () => {
  const all = chooseInterleavings([4, 4], 200);
  assert.equal(all.ranks.length, 70);
  const some = chooseInterleavings([7, 7], 10);
  assert.equal(some.total, 3432n);
  assert.deepEqual(some.ranks, [0n, 343n, 686n, 1029n, 1372n, 1716n, 2059n, 2402n, 2745n, 3088n]);
});

const verdict = (observed: Verdict['observed'], expected: Verdict['expected'], deadlocks = 0): Verdict => ({
  counts: { ...noCounts(), deadlocks },
  observed,
  expected,
  met: observed.join() === expected.join(),
  handledErrors: 0,
  notCounted: {},
  checks: [],
  fault: null,
  waits: [],
});
const runOf = (rank: number, v: Verdict, workers = 'ab'): ExploredRun => ({
  rank: BigInt(rank),
  run: { steps: [], plan: { schedule: [...workers].map((worker) => ({ worker, step: 's' })) } } as unknown as VariantRun,
  verdict: v,
});

test('a bug reproduces when some interleaving shows it; the first such run is shown; counts add up', () => {
  const { exploration, verdict: v } = aggregate(
    [
      runOf(0, verdict([], ['deadlock'])),
      runOf(1, verdict(['deadlock'], ['deadlock'], 1)),
      runOf(2, verdict(['deadlock'], ['deadlock'], 1)),
    ],
    3n,
  );
  assert.equal(v.met, true);
  assert.deepEqual(v.observed, ['deadlock']);
  assert.equal(v.counts.deadlocks, 2);
  assert.equal(exploration.failing, 2);
  assert.equal(exploration.shown.rank, 1n);
  assert.deepEqual(exploration.byAnomaly, { deadlock: 2 });
});

test('a bug reproduces when one interleaving shows exactly it, even if another shows more', () => {
  const met = (observed: Verdict['observed']) => ({ ...verdict(observed, ['deadlock']), met: observed.join() === 'deadlock' });
  const { verdict: v, exploration } = aggregate([runOf(0, met(['deadlock', 'invariant'])), runOf(1, met(['deadlock']))], 2n);
  assert.equal(v.met, true);
  assert.deepEqual(v.observed, ['deadlock', 'invariant']);
  assert.equal(exploration.shown.rank, 1n, 'the run that reproduced it is shown');
});

test('the failing run shown is the one that switches between workers least, then the first', () => {
  const { exploration } = aggregate(
    [
      runOf(0, verdict([], ['deadlock'])),
      runOf(1, verdict(['deadlock'], ['deadlock'], 1), 'abab'),
      runOf(2, verdict(['deadlock'], ['deadlock'], 1), 'aabb'),
      runOf(3, verdict(['deadlock'], ['deadlock'], 1), 'abba'),
      runOf(4, verdict(['deadlock'], ['deadlock'], 1), 'bbaa'),
    ],
    5n,
  );
  assert.equal(exploration.shown.rank, 2n);
});

test('a fix holds only if no interleaving shows anything', () => {
  const { verdict: v, exploration } = aggregate([runOf(0, verdict([], [])), runOf(1, verdict(['deadlock'], [], 1))], 2n);
  assert.equal(v.met, false);
  assert.equal(exploration.shown.rank, 1n, 'the counterexample is shown');
});
