/**
 * MariaDB lock data without a server: the status-text and deadlock parsers and the holder
 * inference, on what a real MariaDB 10.11 printed (test/fixtures/mariadb, recorded by record.ts
 * there). Each fixture's description says what the sessions did.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deadlockInvolving, parseLatestDeadlock } from '../../src/dialect/mysql/deadlock-report.js';
import { WITHHOLD_MAX_MS, parseProcessList, processListWaits } from '../../src/dialect/mysql/holders.js';
import { parseInnodbStatus, recordWriter, type WaitedLock } from '../../src/dialect/mysql/innodb-status.js';
import { ask, fixture, type Fixture } from '../fixtures/mariadb/fixtures.js';

/**
 * The transaction list as it stands for a few microseconds before InnoDB resolves a deadlock: the
 * transactions of a recorded deadlock report, printed the way the list prints them, the members
 * in `waiting` in LOCK WAIT (for what they waited for in the report), the others not.
 */
function listFromDeadlock(f: Fixture, waiting: readonly string[]): string {
  const status = f.snapshots[0]!.status;
  const section = status.slice(status.indexOf('LATEST DETECTED DEADLOCK'), status.indexOf('\n------------\nTRANSACTIONS\n'));
  const blocks = section.split(/\n\*\*\* \(\d+\) TRANSACTION:\n/).slice(1);
  const out = ['LIST OF TRANSACTIONS FOR EACH SESSION:'];
  for (const block of blocks) {
    const lines = block.split('\n');
    const thread = Number(/MariaDB thread id (\d+),/.exec(block)![1]);
    const wait = lines.indexOf('*** WAITING FOR THIS LOCK TO BE GRANTED:');
    const isWaiting = waiting.some((name) => f.threads[name] === thread);
    const head = lines.slice(0, wait).map((l) => (isWaiting ? l : l.replace(/^LOCK WAIT /, '')));
    out.push(`---${head[0]}`, ...head.slice(1));
    if (isWaiting) {
      const lock = lines.slice(wait + 1, lines.indexOf('', wait + 1));
      out.push('------- TRX HAS BEEN WAITING 5 us FOR THIS LOCK TO BE GRANTED:', ...lock, '', '------------------');
    }
  }
  out.push('--------', 'FILE I/O', '--------');
  return out.join('\n');
}

describe('status text (recorded on MariaDB 10.11)', () => {
  test('transactions: ids, threads, states, lock structs, the wait', () => {
    const f = fixture('serializable-three');
    const { transactions, complete } = parseInnodbStatus(f.snapshots[1]!.status);
    assert.equal(complete, true);
    const byThread = (name: string) => transactions.find((t) => t.threadId === f.threads[name])!;
    const [alice, bob, carol] = [byThread('alice'), byThread('bob'), byThread('carol')];
    // Read-only transactions (shared locks only) have no id, but are open and hold locks.
    assert.deepEqual([alice.trxId, alice.state, alice.active, alice.lockStructs > 0, alice.lockWait], [null, 'active', true, true, false]);
    assert.deepEqual([carol.trxId, carol.active, carol.lockStructs > 0], [null, true, true]);
    assert.equal(bob.lockWait, true);
    assert.ok(bob.trxId !== null && bob.trxId > 0);
    assert.equal(bob.waitingFor?.type, 'record');
    assert.equal(bob.waitingFor?.table, `\`${f.schema}\`.\`t\``);
    // Sessions without a transaction: printed as not started, with 0 lock structs.
    const idle = transactions.filter((t) => t.state === 'not started');
    assert.ok(idle.length > 0 && idle.every((t) => !t.active && t.lockStructs === 0));
  });

  test('a list the server cut short is not complete', () => {
    const text = fixture('for-update-two').snapshots[0]!.status;
    const at = text.indexOf('---TRANSACTION');
    // What ha_innodb.cc does past 1 MB: drop part of the list and say so.
    const cut = `${text.slice(0, at)}... truncated...\n${text.slice(text.indexOf('\n---TRANSACTION', at + 1) + 1)}`;
    assert.equal(parseInnodbStatus(cut).complete, false);
    assert.equal(parseInnodbStatus(text).complete, true);
    assert.deepEqual(parseInnodbStatus('no such section'), { transactions: [], complete: false });
  });

  test("the record's writer: DB_TRX_ID, only when exactly one field pair can be it", () => {
    const f = fixture('update-holder');
    const { transactions } = parseInnodbStatus(f.snapshots[0]!.status);
    const bob = transactions.find((t) => t.threadId === f.threads.bob)!;
    const alice = transactions.find((t) => t.threadId === f.threads.alice)!;
    assert.equal(recordWriter(bob.waitingFor!), alice.trxId);

    const lock = (fields: [number, string][], mode = 'lock_mode X locks rec but not gap waiting', index = 'PRIMARY'): WaitedLock => ({
      type: 'record',
      space: 1,
      page: 3,
      heapNo: 2,
      index,
      table: '`d`.`t`',
      mode,
      trxId: 9,
      fields: fields.map(([len, hex]) => ({ len, hex })),
    });
    const key4 = [4, '80000001'] as [number, string];
    const trx = [6, '000000000017'] as [number, string];
    const roll = [7, '06000001360110'] as [number, string];
    assert.equal(recordWriter(lock([key4, trx, roll])), 0x17);
    // A BINARY(6) key before a 7-byte column looks like DB_TRX_ID too: which one is, is not printed.
    assert.equal(recordWriter(lock([[6, '000000000005'], [7, '00000000000001'], trx, roll])), null);
    assert.equal(recordWriter(lock([key4, trx, roll], 'lock_mode X locks gap before rec insert intention waiting')), null);
    assert.equal(recordWriter(lock([key4, trx, roll], 'lock_mode X waiting', 'k')), null, 'a secondary index record has no DB_TRX_ID');
  });

  test('MySQL 8 format (from its manual; MySQL 8 itself is untested)', () => {
    const status = [
      'LIST OF TRANSACTIONS FOR EACH SESSION:',
      '---TRANSACTION 421291106147544, not started',
      '0 lock struct(s), heap size 1136, 0 row lock(s)',
      '---TRANSACTION 1949, ACTIVE 25 sec starting index read',
      'mysql tables in use 1, locked 1',
      'LOCK WAIT 2 lock struct(s), heap size 1136, 1 row lock(s)',
      'MySQL thread id 9, OS thread handle 140588307097344, query id 28 localhost root updating',
      'UPDATE t SET v = 1 WHERE id = 1',
      '------- TRX HAS BEEN WAITING 25 SEC FOR THIS LOCK TO BE GRANTED:',
      'RECORD LOCKS space id 2 page no 4 n bits 72 index PRIMARY of table `test`.`t` trx id 1949 lock_mode X locks rec but not gap waiting',
      'Record lock, heap no 2 PHYSICAL RECORD: n_fields 4; compact format; info bits 0',
      ' 0: len 4; hex 80000001; asc     ;;',
      ' 1: len 6; hex 00000000079c; asc       ;;',
      ' 2: len 7; hex 82000000860110; asc        ;;',
      ' 3: len 4; hex 80000001; asc     ;;',
      '',
      '------------------',
      '---TRANSACTION 1948, ACTIVE (PREPARED) 30 sec',
      '2 lock struct(s), heap size 1136, 1 row lock(s), undo log entries 1',
      'MySQL thread id 8, OS thread handle 140588307363584, query id 26 localhost root',
      '--------',
      'FILE I/O',
      '--------',
    ].join('\n');
    const txs = parseInnodbStatus(status).transactions;
    assert.deepEqual(
      txs.map((x) => [x.trxId, x.threadId, x.state, x.active, x.lockStructs]),
      [
        [421291106147544, null, 'not started', false, 0],
        [1949, 9, 'active', true, 2],
        [1948, 8, 'prepared', true, 2],
      ],
    );
    assert.equal(recordWriter(txs[1]!.waitingFor!), 0x79c);
  });

  test('statement text cannot fake a wait', () => {
    const status = [
      'LIST OF TRANSACTIONS FOR EACH SESSION:',
      '---TRANSACTION 30, ACTIVE 1 sec',
      '2 lock struct(s), heap size 1128, 1 row lock(s)',
      'MariaDB thread id 5, OS thread handle 1, query id 9 127.0.0.1 root Sending data',
      "SELECT 'x'",
      'LOCK WAIT 2 lock struct(s), heap size 1128, 1 row lock(s)',
      'MariaDB thread id 99, OS thread handle 1',
      '--------',
      'FILE I/O',
    ].join('\n');
    const txs = parseInnodbStatus(status).transactions;
    assert.deepEqual(
      txs.map((t) => [t.threadId, t.lockWait, t.lockStructs]),
      [[5, false, 2]],
    );
  });
});

describe('LATEST DETECTED DEADLOCK (recorded on MariaDB 10.11)', () => {
  test('two sessions: bob closed the cycle and was rolled back', () => {
    const f = fixture('deadlock-two');
    const r = parseLatestDeadlock(f.snapshots[0]!.status)!;
    const { alice, bob } = f.threads as { alice: number; bob: number };
    assert.equal(r.victimThreadId, bob);
    assert.deepEqual(new Set(r.cycle.map((m) => `${m.threadId}→${m.waitsForThreadId}`)), new Set([`${alice}→${bob}`, `${bob}→${alice}`]));
    for (const m of r.cycle) assert.deepEqual(m.lock, { table: 't', index: 'PRIMARY', mode: 'X', detail: 'rec but not gap' });
    assert.match(r.detectedAt!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.ok(r.text.includes(`MariaDB thread id ${bob},`) && r.text.includes('*** WE ROLL BACK TRANSACTION'), "the server's own text");
  });

  test('three sessions, one of them asking for a shared lock', () => {
    const f = fixture('deadlock-three');
    const r = parseLatestDeadlock(f.snapshots[0]!.status)!;
    const { alice, bob, carol } = f.threads as Record<string, number>;
    assert.equal(r.victimThreadId, carol);
    const by = new Map(r.cycle.map((m) => [m.threadId, m]));
    assert.equal(by.get(alice!)!.waitsForThreadId, bob);
    assert.equal(by.get(bob!)!.waitsForThreadId, carol);
    assert.equal(by.get(carol!)!.waitsForThreadId, alice);
    assert.equal(by.get(bob!)!.lock!.mode, 'S');
  });

  test("SERIALIZABLE lost update: a waiter's own shared lock is not what it waits for", () => {
    const f = fixture('deadlock-serializable');
    const r = parseLatestDeadlock(f.snapshots[0]!.status)!;
    const { alice, bob } = f.threads as { alice: number; bob: number };
    assert.equal(r.victimThreadId, bob);
    assert.deepEqual(
      r.cycle.map((m) => [m.threadId, m.waitsForThreadId]).sort(),
      [
        [alice, bob],
        [bob, alice],
      ].sort(),
    );
  });

  test("only this run's deadlock counts: the section is server-wide and keeps the latest", () => {
    const f = fixture('metadata-and-user-locks');
    const r = parseLatestDeadlock(f.snapshots[0]!.status);
    assert.ok(r, 'an earlier deadlock of other sessions is still printed');
    assert.equal(deadlockInvolving(r, new Set(Object.values(f.threads))), null);
    const d = fixture('deadlock-two');
    const mine = parseLatestDeadlock(d.snapshots[0]!.status);
    assert.equal(deadlockInvolving(mine, new Set([d.threads.alice!])), mine);
    assert.equal(parseLatestDeadlock('no deadlock section'), null);
  });
});

describe('holders (recorded on MariaDB 10.11)', () => {
  test('UPDATE holder: named from the row itself, at once; nothing once the wait is over', () => {
    const f = fixture('update-holder');
    const a = ask(f, 0, new Map(), { scope: 'none' });
    assert.deepEqual(a.waits, { bob: ['alice'] });
    assert.equal(a.readInformationSchema, false);
    assert.deepEqual(ask(f, 1, a.memory).waits, {});
  });

  test('FOR UPDATE holder, two workers: by elimination at once; without it, information_schema names it', () => {
    const f = fixture('for-update-two');
    const a = ask(f, 0);
    assert.deepEqual(a.waits, { bob: ['alice'] });
    assert.equal(a.readInformationSchema, false);
    const b = ask(f, 0, new Map(), { scope: 'none' });
    assert.deepEqual(b.waits, { bob: ['alice'] });
    assert.equal(b.readInformationSchema, true);
  });

  test('reported bug: a holder once named stays named when a third session begins a transaction', () => {
    const f = fixture('serializable-three');
    const first = ask(f, 0);
    assert.deepEqual(first.waits, { bob: ['alice'] });
    // carol now has an open transaction with a shared lock (on row 2): elimination no longer
    // decides, and information_schema cannot tell the two read-only transactions apart. bob
    // still waits for alice, and alice's transaction is still open.
    const second = ask(f, 1, first.memory);
    assert.deepEqual(second.waits, { bob: ['alice'] });
    assert.deepEqual(ask(f, 2, second.memory).waits, {}, 'alice committed: bob got the row');
  });

  test('two read-only holders are never guessed between: unknown, after the hold-back bound', () => {
    const f = fixture('serializable-three');
    // Seen for the first time with alice and carol both open: information_schema shows one
    // blocker with trx id 0, and two read-only transactions it could be.
    const a = ask(f, 1, new Map(), { now: 0 });
    assert.deepEqual(a.waits, {}, 'held back, so that a late answer does not change the transcript');
    assert.equal(a.readInformationSchema, true);
    const b = ask(f, 1, a.memory, { now: WITHHOLD_MAX_MS, fresh: false });
    assert.deepEqual(b.waits, { bob: [] }, 'holder unknown (not carol, not both)');
  });

  test('waiting for two shared locks: unknown; once one holder commits, the other by elimination', () => {
    const f = fixture('serializable-shared-both');
    const a = ask(f, 0, new Map(), { now: 0 });
    assert.deepEqual(a.waits, {});
    const b = ask(f, 0, a.memory, { now: WITHHOLD_MAX_MS, fresh: false });
    assert.deepEqual(b.waits, { bob: [] });
    assert.deepEqual(ask(f, 1, b.memory).waits, { bob: ['carol'] });
  });

  test('three FOR UPDATE transactions: information_schema names the holder by trx id', () => {
    const f = fixture('for-update-three');
    const a = ask(f, 0);
    assert.deepEqual(a.waits, { bob: ['alice'] });
    assert.equal(a.readInformationSchema, true);
    // Not fresh (someone keeps the cache stale): held back, then reported as unknown.
    const stale = ask(f, 0, new Map(), { fresh: false, now: 0 });
    assert.deepEqual(stale.waits, {});
    assert.deepEqual(ask(f, 0, stale.memory, { fresh: false, now: WITHHOLD_MAX_MS }).waits, { bob: [] });
  });

  test('two waiters for one row: each with its own holders; the queue moves on', () => {
    const f = fixture('two-waiters');
    const a = ask(f, 0);
    assert.deepEqual(a.waits, { bob: ['alice'], carol: ['alice', 'bob'] });
    // alice committed; bob updated the row and holds it: carol's wait names bob, from the row.
    assert.deepEqual(ask(f, 1, a.memory).waits, { carol: ['bob'] });
  });

  test('gap (insert intention) and secondary-index waits: by elimination', () => {
    assert.deepEqual(ask(fixture('gap-insert'), 0).waits, { bob: ['alice'] });
    assert.deepEqual(ask(fixture('secondary-index'), 0).waits, { bob: ['alice'] });
    assert.deepEqual(ask(fixture('secondary-index'), 0, new Map(), { scope: 'none' }).waits, { bob: ['alice'] }, 'information_schema');
  });

  test('elimination is not used when someone else is in the scratch database', () => {
    const f = fixture('for-update-two');
    const stranger = {
      ...f,
      snapshots: f.snapshots.map((s) => ({
        ...s,
        processlist: [...s.processlist, { Id: 1, db: f.schema, Command: 'Sleep', State: '', Info: null }],
      })),
    };
    const a = ask(stranger, 0);
    assert.equal(a.readInformationSchema, true, 'asked information_schema instead');
    assert.deepEqual(a.waits, { bob: ['alice'] });
  });

  test('a read-only waiter (no trx id) is named with its holder', () => {
    assert.deepEqual(ask(fixture('read-only-waiter'), 0).waits, { bob: ['alice'] });
  });

  test('a new wait that closes a cycle is a deadlock being resolved, not a wait (innodb_deadlock_detect=ON)', () => {
    const d = fixture('deadlock-two');
    const f: Fixture = {
      ...d,
      snapshots: [
        { label: 'alice waits for bob', processlist: [], status: listFromDeadlock(d, ['alice']) },
        {
          label: 'bob asked for row 1: his deadlock check has not run yet',
          processlist: [],
          status: listFromDeadlock(d, ['alice', 'bob']),
        },
      ],
    };
    const first = ask(f, 0, new Map(), { scope: 'none' });
    assert.deepEqual(first.waits, { alice: ['bob'] }, 'each row names its writer');
    assert.deepEqual(
      ask(f, 1, first.memory, { scope: 'none' }).waits,
      { alice: ['bob'] },
      "bob's wait is held back: the server answers it with 1213",
    );
    const late = ask(f, 1, ask(f, 1, first.memory, { scope: 'none', now: 0 }).memory, { scope: 'none', now: WITHHOLD_MAX_MS });
    assert.deepEqual(late.waits, { alice: ['bob'], bob: ['alice'] }, 'bounded: still there after the hold-back bound, it is reported');
    assert.deepEqual(
      ask(f, 1, first.memory, { scope: 'none', deadlockDetect: false }).waits,
      { alice: ['bob'], bob: ['alice'] },
      'without deadlock detection the cycle stays until a lock wait timeout: a wait',
    );
  });

  test('MySQL without information_schema lock views: reported at once with what is known', () => {
    const a = ask(fixture('for-update-three'), 0, new Map(), { informationSchemaAvailable: false });
    assert.deepEqual(a.waits, { bob: [] });
    assert.equal(a.readInformationSchema, false);
  });

  test('process list: a table-lock wait (holder unknown) and a GET_LOCK wait', () => {
    const f = fixture('metadata-and-user-locks');
    const procs = parseProcessList(f.snapshots[0]!.processlist);
    const pl = processListWaits(procs, new Set(Object.values(f.threads)));
    assert.deepEqual(pl.otherLock, [f.threads.bob]);
    assert.deepEqual(
      pl.userLock.map((p) => p.id),
      [f.threads.carol],
    );
    assert.equal(pl.needStatus, false);
  });
});
