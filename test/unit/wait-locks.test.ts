// The lock a wait is on, in words (issue #11): PostgreSQL's pg_locks rows, InnoDB's status lines,
// the words the reports use. No database: the rows and lines are as the servers printed them
// (PostgreSQL 15, MariaDB 10.11.19; see test/integration/wait-locks.test.ts for the real runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describePgWait } from '../../src/dialect/postgres/lock-waits.js';
import { parseLock } from '../../src/dialect/mysql/innodb-status.js';
import { decodeKeyField, innodbWaitLock, processListWaitLock, type KeyColumn } from '../../src/dialect/mysql/lock-names.js';
import { lockText } from '../../src/report/format.js';

const pgRow = (over: Record<string, unknown>) => ({
  pid: '11216',
  blockers: '11213',
  locktype: null,
  mode: null,
  classid: null,
  objid: null,
  objsubid: null,
  rel: null,
  relname: null,
  page: null,
  tuple: null,
  transactionid: null,
  key_columns: null,
  tables: null,
  ...over,
});

test('PostgreSQL: an UPDATE waiting on a row is a transactionid wait with the tuple lock held: a row, with its key', () => {
  // Measured: ungranted `transactionid` ShareLock on the holder's xid, granted `tuple` on account (0,2).
  const r = pgRow({
    locktype: 'transactionid',
    mode: 'ShareLock',
    transactionid: '741',
    rel: 'account',
    relname: 'account',
    page: '0',
    tuple: '2',
  });
  assert.deepEqual(describePgWait(r, 'id=2'), { kind: 'row', table: 'account', detail: 'id=2' });
  assert.deepEqual(describePgWait(r, null), { kind: 'row', table: 'account', detail: '' }, 'key unread: still the row and its table');
});

test('PostgreSQL: table, advisory, transaction and other waits', () => {
  assert.deepEqual(describePgWait(pgRow({ locktype: 'relation', mode: 'ExclusiveLock', relname: 'auth_user' }), null), {
    kind: 'table',
    table: 'auth_user',
    detail: 'ExclusiveLock',
  });
  // pg_advisory_lock(bigint): classid the high half, objid the low half, objsubid 1.
  assert.equal(describePgWait(pgRow({ locktype: 'advisory', classid: '0', objid: '42', objsubid: '1' }), null)?.detail, 'key 42');
  assert.equal(describePgWait(pgRow({ locktype: 'advisory', classid: '1', objid: '0', objsubid: '1' }), null)?.detail, 'key 4294967296');
  assert.equal(
    describePgWait(pgRow({ locktype: 'advisory', classid: '4294967295', objid: '4294967295', objsubid: '1' }), null)?.detail,
    'key -1',
  );
  assert.equal(describePgWait(pgRow({ locktype: 'advisory', classid: '7', objid: '9', objsubid: '2' }), null)?.detail, 'keys 7, 9');
  // An INSERT waiting for an uncommitted duplicate key: no tuple lock; the one table it locked.
  assert.deepEqual(describePgWait(pgRow({ locktype: 'transactionid', mode: 'ShareLock', tables: '["tag"]' }), null), {
    kind: 'transaction',
    table: 'tag',
    detail: 'until the other transaction ends',
  });
  assert.equal(describePgWait(pgRow({ locktype: 'transactionid', tables: '["a","b"]' }), null)?.table, null);
  assert.deepEqual(describePgWait(pgRow({ locktype: 'object', mode: 'AccessExclusiveLock' }), null), {
    kind: 'other',
    table: null,
    detail: 'object AccessExclusiveLock',
  });
  assert.equal(describePgWait(pgRow({}), null), null, 'no ungranted lock seen: unknown');
});

/** A lock on the account table. */
const onAccount = (kind: string, detail: string) => ({ kind, table: 'account', detail });

const id: KeyColumn = { name: 'id', type: 'int', unsigned: false };
const record = (mode: string, fields: string[], index = 'PRIMARY', heap = 2) =>
  parseLock(
    [
      `RECORD LOCKS space id 2 page no 4 n bits 72 index ${index} of table \`lockrepro_x_1a2b3c\`.\`account\` trx id 1949 ${mode}`,
      `Record lock, heap no ${heap} PHYSICAL RECORD: n_fields ${fields.length}; compact format; info bits 0`,
      ...fields,
    ],
    0,
  ).lock!;
const row2 = [
  ' 0: len 4; hex 80000002; asc     ;;',
  ' 1: len 6; hex 00000000079c; asc       ;;',
  ' 2: len 7; hex 82000000860110; asc        ;;',
];

test('InnoDB: a record wait is a row of the table, its key decoded, no ids or page numbers', () => {
  assert.deepEqual(innodbWaitLock(record('lock_mode X locks rec but not gap waiting', row2), [id]), onAccount('row', 'id=2'));
  assert.deepEqual(innodbWaitLock(record('lock_mode X waiting', row2), [id]), onAccount('row', 'id=2, and the gap before it'));
  assert.deepEqual(innodbWaitLock(record('lock_mode X locks rec but not gap waiting', row2), null), onAccount('row', ''));
  const name = [' 0: len 19; hex 41707043616368652e77726974655f6c6f636b; asc AppCache.write_lock;;', ' 1: len 4; hex 80000002; asc     ;;'];
  assert.deepEqual(
    innodbWaitLock(record('lock_mode X waiting', name, 'name'), [{ name: 'name', type: 'varchar', unsigned: false }]),
    onAccount('row', 'name=AppCache.write_lock, and the gap before it in index name'),
  );
});

test('InnoDB: gap and insert-intention waits are key ranges', () => {
  const ten = [
    ' 0: len 4; hex 8000000a; asc     ;;',
    ' 1: len 6; hex 000000004015; asc     @ ;;',
    ' 2: len 7; hex 8a0000014a0137; asc     J 7;;',
  ];
  assert.deepEqual(
    innodbWaitLock(record('lock_mode X locks gap before rec insert intention waiting', ten), [id]),
    onAccount('key-range', 'insert before id=10'),
  );
  assert.deepEqual(
    innodbWaitLock(record('lock_mode X locks gap before rec waiting', ten), [id]),
    onAccount('key-range', 'gap before id=10'),
  );
  const supremum = [' 0: len 8; hex 73757072656d756d; asc supremum;;'];
  assert.deepEqual(
    innodbWaitLock(record('lock_mode X insert intention waiting', supremum, 'PRIMARY', 1), [id]),
    onAccount('key-range', 'insert after the last key'),
  );
});

test('InnoDB: table locks, and waits the process list shows', () => {
  const t = parseLock(['TABLE LOCK table `db`.`account` trx id 77 lock mode IX waiting'], 0).lock!;
  assert.deepEqual(innodbWaitLock(t, null), { kind: 'table', table: 'account', detail: 'IX lock' });
  assert.deepEqual(processListWaitLock('User lock', ['lock A']), { kind: 'advisory', table: null, detail: 'lock A' });
  assert.deepEqual(processListWaitLock('Waiting for table metadata lock', null), { kind: 'metadata', table: null, detail: 'table' });
  assert.deepEqual(processListWaitLock('Waiting for table level lock', null), { kind: 'table', table: null, detail: 'table level lock' });
});

test('InnoDB key fields: signed and unsigned integers, strings; other types are not guessed', () => {
  assert.equal(decodeKeyField(id, { len: 4, hex: '80000002' }), '2');
  assert.equal(decodeKeyField(id, { len: 4, hex: '7ffffffe' }), '-2');
  assert.equal(decodeKeyField({ name: 'n', type: 'bigint', unsigned: false }, { len: 8, hex: '8000000000000001' }), '1');
  assert.equal(decodeKeyField({ name: 'n', type: 'int', unsigned: true }, { len: 4, hex: '80000002' }), '2147483650');
  assert.equal(decodeKeyField({ name: 'c', type: 'char', unsigned: false }, { len: 4, hex: '61622020' }), 'ab');
  assert.equal(decodeKeyField({ name: 'd', type: 'date', unsigned: false }, { len: 3, hex: '8fb2d6' }), null);
  assert.equal(decodeKeyField(id, { len: 8, hex: '73757072656d756d' }), null, 'length does not fit the type');
});

test('the words reports use for a lock', () => {
  assert.equal(lockText({ kind: 'row', table: 'account', detail: 'id=2' }), 'row account (id=2)');
  assert.equal(lockText({ kind: 'row', table: 'account', detail: '' }), 'row account');
  assert.equal(lockText({ kind: 'key-range', table: 'account', detail: 'gap before id=10' }), 'key range account (gap before id=10)');
  assert.equal(lockText({ kind: 'table', table: 'auth_user', detail: 'ExclusiveLock' }), 'table auth_user (ExclusiveLock)');
  assert.equal(lockText({ kind: 'advisory', table: null, detail: 'key 42' }), 'advisory lock (key 42)');
  assert.equal(lockText({ kind: 'metadata', table: null, detail: 'table' }), 'metadata lock (table)');
  assert.equal(
    lockText({ kind: 'transaction', table: 'tag', detail: 'until the other transaction ends' }),
    'the end of a transaction on tag',
  );
});
