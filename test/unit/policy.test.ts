// The error policy: what the application does after a failed statement (no database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onError, type ErrorContext } from '../../src/engine/policy.js';
import type { PlannedSql, PlannedStep } from '../../src/plan/plan.js';

const sql = (text: string): PlannedSql => ({ source: text, text, params: [] });
const step = (catches: [string, PlannedSql | null][] = []): PlannedStep =>
  ({
    name: 's',
    sql: sql('UPDATE t SET v = 1'),
    save: null,
    catch: new Map(catches),
    expectRows: null,
    note: null,
  }) as unknown as PlannedStep;
const base: ErrorContext = { kind: 'deadlock', step: step(), retry: null, attempt: 1, cancelledAsHang: false, connectionEnded: false };

test('unhandled errors give up', () => {
  assert.deepEqual(onError(base), { do: 'give-up' });
});

test('a hang gives up whatever the step catches', () => {
  assert.deepEqual(onError({ ...base, step: step([['timeout', null]]), kind: 'timeout', cancelledAsHang: true }), { do: 'hang' });
});

test('a caught kind goes on, with its recovery SQL when there is one; catching wins over retrying', () => {
  const recovery = sql('ROLLBACK TO SAVEPOINT s');
  const retry = { on: ['unique-violation' as const], attempts: 3 };
  assert.deepEqual(onError({ ...base, kind: 'unique-violation', step: step([['unique-violation', recovery]]), retry }), {
    do: 'catch',
    recovery,
  });
  assert.deepEqual(onError({ ...base, kind: 'unique-violation', step: step([['unique-violation', null]]) }), {
    do: 'catch',
    recovery: null,
  });
});

test('retries only on the listed kinds, while attempts are left and the connection lives', () => {
  const retry = { on: ['deadlock' as const, 'serialization' as const], attempts: 2 };
  assert.deepEqual(onError({ ...base, retry }), { do: 'retry' });
  assert.deepEqual(onError({ ...base, retry, attempt: 2 }), { do: 'retry' });
  assert.deepEqual(onError({ ...base, retry, attempt: 3 }), { do: 'give-up' });
  assert.deepEqual(onError({ ...base, retry, kind: 'lock-timeout' }), { do: 'give-up' });
  assert.deepEqual(onError({ ...base, retry, connectionEnded: true }), { do: 'give-up' });
});
