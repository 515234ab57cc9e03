import { test } from 'node:test';
import assert from 'node:assert/strict';
import { histogram, wilson } from '../../src/detect/rates.js';

test('the Wilson interval: known values, and sound at 0 and n', () => {
  // 10 of 100: 5.52 % … 17.44 % (textbook value).
  assert.deepEqual(wilson(10, 100), { low: 0.0552, high: 0.1744 });
  const none = wilson(0, 200);
  assert.equal(none.low, 0);
  assert.ok(none.high > 0 && none.high < 0.02, String(none.high));
  const all = wilson(200, 200);
  assert.equal(all.high, 1);
  assert.ok(all.low > 0.98);
});

test('the histogram buckets durations by doubling bounds', () => {
  assert.deepEqual(histogram([0.5, 3, 3.9, 5, 40]), [
    { upToMs: 1, runs: 1 },
    { upToMs: 4, runs: 2 },
    { upToMs: 8, runs: 1 },
    { upToMs: 64, runs: 1 },
  ]);
});
