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
