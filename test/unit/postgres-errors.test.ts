// PostgreSQL's deadlock report, read from a 40P01 error's detail (no database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nameRelations, parseDeadlockDetail, relationOids } from '../../src/dialect/postgres/errors.js';

test('a two-process cycle: backend ids as placeholders, transaction ids as whose transaction', () => {
  const r = parseDeadlockDetail(
    'Process 8000 waits for ShareLock on transaction 756; blocked by process 8001.\nProcess 8001 waits for ShareLock on transaction 755; blocked by process 8000.',
  );
  assert.deepEqual(r, {
    waits: [
      { waiter: 8000, holders: [8001], lock: "ShareLock on {{8001}}'s transaction" },
      { waiter: 8001, holders: [8000], lock: "ShareLock on {{8000}}'s transaction" },
    ],
    text: "{{8000}} waits for ShareLock on {{8001}}'s transaction; blocked by {{8001}}.\n{{8001}} waits for ShareLock on {{8000}}'s transaction; blocked by {{8000}}.",
  });
});

test('relation OIDs are named and database OIDs dropped, so the report reads the same every run', () => {
  const r = parseDeadlockDetail(
    'Process 1 waits for AccessExclusiveLock on relation 16390 of database 16384; blocked by process 2.\nProcess 2 waits for ExclusiveLock on relation 16395 of database 16384; blocked by process 1.',
  )!;
  assert.deepEqual(relationOids(r), [16390, 16395]);
  const named = nameRelations(
    r,
    new Map([
      [16390, 'user_profile'],
      [16395, 'auth_user'],
    ]),
  );
  assert.equal(
    named.text,
    '{{1}} waits for AccessExclusiveLock on relation user_profile; blocked by {{2}}.\n{{2}} waits for ExclusiveLock on relation auth_user; blocked by {{1}}.',
  );
  assert.equal(named.waits[0]!.lock, 'AccessExclusiveLock on relation user_profile');
});

test('a detail in another shape (a translated server) gives no report rather than a wrong one', () => {
  assert.equal(parseDeadlockDetail('Prozess 8000 wartet auf ShareLock-Sperre für Transaktion 756.'), undefined);
  assert.equal(parseDeadlockDetail(undefined), undefined);
});
