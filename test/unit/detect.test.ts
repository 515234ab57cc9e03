// Detection on hand-made run results: what counts as which anomaly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detect } from '../../src/detect/detect.js';
import type { CheckRun, RunEvent, VariantRun } from '../../src/engine/result.js';
import { plansFrom } from '../helpers/scenario.js';

const [plan] = plansFrom(`
name: t
title: t
story: s
workers:
  alice: [{ name: write, sql: SELECT 1 }]
  bob: [{ name: write, sql: SELECT 2 }]
checks:
  - { name: both applied, sql: SELECT 1, expect: 20, anomaly: lost-update }
expect: lost-update
`);

const failedCheck: CheckRun = {
  name: 'both applied',
  line: 9,
  anomaly: 'lost-update',
  expect: 20,
  rows: [{ total: 70 }],
  columns: ['total'],
  error: null,
  code: null,
};
const run = (events: RunEvent[]): VariantRun => ({ plan: plan!, steps: [], events, deadlocks: [], checks: [failedCheck], durationMs: 0 });

test('a failed lost-update check is a lost update when every transaction went through', () => {
  const v = detect(run([]));
  assert.equal(v.counts.lostUpdates, 1);
  assert.deepEqual(v.observed, ['lost-update']);
  assert.deepEqual(v.notCounted, {});
});

test('but not when a worker gave up and rolled back: its change never happened', () => {
  const v = detect(run([{ type: 'rollback', worker: 'bob', reason: 'error' }]));
  assert.equal(v.counts.lostUpdates, 0);
  assert.deepEqual(v.observed, []);
  assert.match(v.notCounted['both applied']!, /not a lost update: bob's transaction failed and was rolled back/);
});

test('a retried rollback does not excuse it: the retry ran the change again', () => {
  const v = detect(run([{ type: 'rollback', worker: 'bob', reason: 'retry' }]));
  assert.equal(v.counts.lostUpdates, 1);
});

test('checks are judged here, from the rows the engine recorded', () => {
  const v = detect(run([]));
  assert.deepEqual(v.checks, [{ name: 'both applied', anomaly: 'lost-update', expected: 20, passed: false, actual: 70, error: null }]);
  const sqlFailed: CheckRun = { ...failedCheck, rows: [], columns: [], error: 'its SQL failed: 42P01 relation "x" does not exist' };
  const broken = detect({ ...run([]), checks: [sqlFailed] });
  assert.equal(broken.checks[0]!.passed, false);
  assert.deepEqual(broken.observed, ['error']);
  assert.equal(broken.counts.lostUpdates, 0);
});

test('waits: judged per step over its attempts; a broken one fails the variant with a line naming the step', async () => {
  const { newRecord } = await import('../../src/engine/step-io.js');
  const [p] = plansFrom(`name: w
title: t
story: s
workers:
  a:
    - { name: lock, sql: SELECT 1, waits: false }
    - { name: take, sql: SELECT 2, waits: true }
    - { name: free, sql: SELECT 3 }
expect: clean
`);
  const steps = p!.workers[0]!.steps;
  const rec = (i: number, status: 'ok' | 'not-run', blocked = false, attempt = 1) => ({
    ...newRecord(steps[i]!, 'a', attempt, 0, false, {}, status),
    blocked,
    blockedBy: blocked ? ['b'] : [],
  });
  const judge = (records: ReturnType<typeof rec>[]) => {
    const v = detect({ plan: p!, steps: records, events: [], deadlocks: [], checks: [], durationMs: 0 });
    return [v.met, v.waits.map((w) => w.message ?? `${w.step} ok`)];
  };
  assert.deepEqual(judge([rec(0, 'ok'), rec(1, 'ok', true), rec(2, 'ok', true)]), [true, ['a.lock ok', 'a.take ok']]);
  assert.deepEqual(judge([rec(0, 'ok', true), rec(1, 'ok'), rec(2, 'ok')]), [
    false,
    [
      'a.lock waited on a lock held by b; it must not wait (waits: false)',
      'a.take was expected to wait on a lock (waits: true) but did not wait',
    ],
  ]);
  // A retried transaction: the second attempt's wait counts; a step that never ran did not wait.
  assert.deepEqual(judge([rec(0, 'not-run'), rec(1, 'ok', false, 1), rec(1, 'ok', true, 2)]), [true, ['a.lock ok', 'a.take ok']]);
  assert.deepEqual(judge([rec(0, 'ok'), rec(1, 'not-run')]), [
    false,
    ['a.lock ok', 'a.take was expected to wait on a lock (waits: true) but never ran'],
  ]);
});
