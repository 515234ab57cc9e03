/**
 * The MySQL/MariaDB dialect against a real server (MariaDB 10.11 in CI; see test/helpers/mysql.ts
 * for the URL and the skip/fail rule). Nothing here sleeps to synchronise: a test waits for a lock
 * wait by polling lockWaits, with a bound.
 *
 * What needs no server (parsers, holder inference on recorded status texts, value conversion) is
 * in test/unit/mysql-*.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { QueryError, type Dialect, type Scratch, type Session } from '../../src/engine/dialect.js';
import { DatabaseUnavailableError } from '../../src/errors.js';
import { connectMysql } from '../../src/dialect/mysql/index.js';
import type { DeadlockReport } from '../../src/dialect/mysql/deadlock-report.js';
import { detect } from '../../src/detect/detect.js';
import { runVariant } from '../../src/engine/run.js';
import { TextReporter } from '../../src/report/text.js';
import { plansFrom } from '../helpers/scenario.js';
import { MYSQL_TEST_URL, rawMysql, requireMysql, withCredentials } from '../helpers/mysql.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Three sessions at SERIALIZABLE (the reported bug): bob waits for alice's shared lock, and carol
 * then opens a transaction of her own while bob still waits.
 */
const THREE_SERIALIZABLE = `
name: three-serializable
title: bob waits for alice while carol reads
story: A third session opens a transaction while bob waits for alice.
isolation: serializable
setup:
  - CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)
  - INSERT INTO t VALUES (1, 100), (2, 200)
workers:
  alice:
    - { name: begin, sql: BEGIN }
    - { name: read, sql: "SELECT v FROM t WHERE id = 1" }
    - { name: commit, sql: COMMIT }
  bob:
    - { name: begin, sql: BEGIN }
    - { name: write, sql: "UPDATE t SET v = v + 1 WHERE id = 1" }
    - { name: commit, sql: COMMIT }
  carol:
    - { name: begin, sql: BEGIN }
    - { name: read, sql: "SELECT v FROM t WHERE id = 2" }
    - { name: commit, sql: COMMIT }
schedule: [alice.begin, alice.read, bob.begin, bob.write, carol.begin, carol.read, alice.commit, carol.commit, bob.commit]
checks:
  - { name: one write, sql: "SELECT v FROM t WHERE id = 1", expect: 101, anomaly: lost-update }
expect: clean
`;

/** Names of scratch databases this file created, to check none is left behind. */
const created = new Set<string>();

let dialect: Dialect | undefined;
async function db(): Promise<Dialect> {
  dialect ??= await connectMysql(MYSQL_TEST_URL);
  return dialect;
}

async function scratch(label: string): Promise<Scratch> {
  const s = await (await db()).createScratch(label);
  created.add(s.name);
  return s;
}

after(async () => {
  await dialect?.close();
});

/**
 * bob lowers his own innodb_lock_wait_timeout, then waits for alice's row, which she keeps until
 * the run ends (her transaction is rolled back then).
 */
const OWN_TIMEOUT = `
name: own-timeout
title: a worker sets its own lock wait timeout
story: bob does not want to wait long.
setup:
  - CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)
  - INSERT INTO t VALUES (1, 100)
workers:
  alice:
    - { name: begin, sql: BEGIN }
    - { name: write, sql: "UPDATE t SET v = v + 1 WHERE id = 1" }
  bob:
    - { name: timeout, sql: SET SESSION innodb_lock_wait_timeout = 1 }
    - { name: begin, sql: BEGIN }
    - { name: write, sql: "UPDATE t SET v = v + 10 WHERE id = 1", catch: [lock-timeout] }
    - { name: show, sql: "SELECT @@innodb_lock_wait_timeout AS t" }
    - { name: commit, sql: COMMIT }
schedule: [alice.begin, alice.write, bob.timeout, bob.begin, bob.write, bob.show, bob.commit]
expect: clean
`;

/** One column of each kind whose value could be converted, shifted or parsed on the way. */
const VALUES_TABLE = `CREATE TABLE v (d date, dt datetime, dt3 datetime(3), ts timestamp(2) NULL, tm time(3), tneg time,
  j json, b varbinary(8), bt bit(4), tf tinyint(1), amount decimal(10,2), big bigint, f float, y year)`;
const VALUES_ROW = `INSERT INTO v VALUES ('2008-12-22', '2008-12-22 00:00:00', '2008-12-22 10:20:30.000', '2008-12-22 23:59:59.50',
  '10:00:00.500', '-838:59:59', '{"a": [1, 2.50, 12345678901234567890]}', x'00ff10', b'1010', TRUE, 10.50, 9007199254740993, 0.1, 2008)`;

/** Poll lockWaits (no sleeping) until `pred` holds; returns the answer and the time it took. */
async function pollWaits(
  s: Scratch,
  ids: number[],
  pred: (w: Map<number, number[]>) => boolean,
  boundMs = 5_000,
): Promise<{ waits: Map<number, number[]>; ms: number; polls: number }> {
  const t0 = performance.now();
  for (let polls = 1; ; polls++) {
    // Holders only: the lock each waits for is tested in test/integration/lock-names.test.ts.
    const waits = new Map([...(await s.lockWaits(ids))].map(([id, w]) => [id, w.holders]));
    const ms = performance.now() - t0;
    if (pred(waits)) return { waits, ms, polls };
    if (ms > boundMs) assert.fail(`condition not reached within ${boundMs} ms; last answer: ${JSON.stringify([...waits])}`);
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected the statement to fail');
}

function assertQueryError(e: unknown, fields: { code: string; kind: string; rolledBack: string }): QueryError {
  assert.ok(e instanceof QueryError, `expected a QueryError, got ${String(e)}`);
  assert.equal(e.db.code, fields.code, e.db.message);
  assert.equal(e.db.kind, fields.kind);
  assert.equal(e.db.rolledBack, fields.rolledBack);
  return e;
}

/** MariaDB's @@in_transaction (MySQL 8 has no such variable: these tests target MariaDB). */
async function inTransaction(s: Session): Promise<number> {
  return Number((await s.query('SELECT @@in_transaction AS t')).rows[0]!.t);
}

function median(xs: number[]): number {
  const y = [...xs].sort((a, b) => a - b);
  return y[Math.floor(y.length / 2)]!;
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A scratch with `t (id int primary key, v int)` holding rows 1 and 2, and two sessions. */
async function twoSessions(label: string, isolation: 'read-committed' | 'repeatable-read' = 'read-committed') {
  const s = await scratch(label);
  await s.exec('CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)');
  await s.exec('INSERT INTO t VALUES (?, ?), (?, ?)', [1, 100, 2, 200]);
  const a = await s.openSession('alice', isolation);
  const b = await s.openSession('bob', isolation);
  return { s, a, b, ids: [a.backendId, b.backendId] };
}

// ---------------------------------------------------------------------------------------------

describe('mysql dialect against a real server', () => {
  test('identifies the server', async (t) => {
    if (!(await requireMysql(t))) return;
    const d = await db();
    const raw = await rawMysql();
    try {
      const [[row]] = (await raw.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
      assert.equal(d.info.dialect, /MariaDB/i.test(row.v) ? 'mariadb' : 'mysql');
      assert.match(d.info.version, /^\d+\.\d+\.\d+$/);
      assert.ok(row.v.startsWith(d.info.version), `${d.info.version} vs ${row.v}`);
      assert.equal(d.info.embedded, false);
      assert.match(d.info.settings.innodb_lock_wait_timeout!, /^50\b/);
      assert.ok(d.info.settings.innodb_deadlock_detect, 'innodb_deadlock_detect reported');
      const [snap] = (await raw.query(`SHOW GLOBAL VARIABLES LIKE 'innodb_snapshot_isolation'`)) as unknown as [unknown[]];
      assert.equal('innodb_snapshot_isolation' in d.info.settings, snap.length > 0);
      assert.equal(d.placeholder(1), '?');
      assert.equal(d.placeholder(7), '?');
      t.diagnostic(`${d.info.dialect} ${d.info.version} ${JSON.stringify(d.info.settings)}`);
    } finally {
      await raw.end();
    }
  });

  test('scratch: create, exec, sessions, drop (also with a blocked session), drop twice', async (t) => {
    if (!(await requireMysql(t))) return;
    const s = await scratch('Scratch Test: lifecycle!');
    assert.match(s.name, /^lockrepro_scratch_test_lifecycle_[0-9a-f]{8}$/);
    await s.exec('CREATE TABLE acct (id int PRIMARY KEY, balance decimal(10,2) NOT NULL, big bigint NOT NULL, d date)');
    const ins = await s.exec('INSERT INTO acct VALUES (?, ?, ?, ?), (2, 20.25, 9007199254740993, NULL)', [1, 10.5, 7, '2024-02-29']);
    assert.equal(ins.rowCount, 2);
    const sel = await s.exec('SELECT id, balance, big, d FROM acct ORDER BY id');
    assert.deepEqual(sel.columns, ['id', 'balance', 'big', 'd']);
    assert.deepEqual(sel.rows[0], { id: 1, balance: '10.50', big: 7, d: '2024-02-29' }, 'DECIMAL as a number only where exact');
    assert.equal(sel.rows[1]!.big, '9007199254740993', 'beyond 2^53 stays exact, as a string');
    assert.equal(sel.rowCount, 2);

    const a = await s.openSession('alice', 'serializable');
    const b = await s.openSession('bob', 'read-committed');
    // MariaDB 10.11 has only @@tx_isolation (lab-notes); MySQL 8 only @@transaction_isolation.
    const iso = (await db()).info.dialect === 'mariadb' ? '@@tx_isolation' : '@@transaction_isolation';
    const [ra, rb] = [
      await a.query(`SELECT CONNECTION_ID() AS id, ${iso} AS iso, @lockrepro_worker AS w`),
      await b.query(`SELECT CONNECTION_ID() AS id, ${iso} AS iso`),
    ].map((r) => r.rows[0]!);
    assert.deepEqual(ra, { id: a.backendId, iso: 'SERIALIZABLE', w: 'alice' });
    assert.deepEqual(rb, { id: b.backendId, iso: 'READ-COMMITTED' });

    // bob blocks on alice's row lock; drop() must not wait for him.
    await a.query('BEGIN');
    await a.query('UPDATE acct SET balance = balance - 1 WHERE id = 1');
    await b.query('BEGIN');
    const blocked = b.query('UPDATE acct SET balance = balance + 1 WHERE id = 1');
    blocked.catch(() => undefined);
    await pollWaits(s, [b.backendId], (w) => w.has(b.backendId));
    const t0 = performance.now();
    await s.drop();
    const dropMs = performance.now() - t0;
    assert.ok(dropMs < 5_000, `drop took ${dropMs} ms`);
    const err = await rejection(blocked);
    assert.ok(!(err instanceof QueryError), 'a killed connection is a plain Error, not a server error');
    await s.drop(); // twice is fine
    assert.deepEqual([...(await s.lockWaits([a.backendId]))], []);
    await assert.rejects(s.exec('SELECT 1'));

    const raw = await rawMysql();
    try {
      const [rows] = (await raw.query('SHOW DATABASES LIKE ?', [s.name])) as unknown as [unknown[]];
      assert.equal(rows.length, 0, `${s.name} still exists`);
      const [threads] = (await raw.query('SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN (?, ?)', [
        a.backendId,
        b.backendId,
      ])) as unknown as [unknown[]];
      assert.equal(threads.length, 0, 'worker connections are gone');
    } finally {
      await raw.end();
    }
    t.diagnostic(`drop with a blocked session took ${dropMs.toFixed(1)} ms`);
  });

  test("values are the server's own text, by both protocols, in any client time zone", async (t) => {
    if (!(await requireMysql(t))) return;
    const expected = {
      d: '2008-12-22',
      dt: '2008-12-22 00:00:00',
      dt3: '2008-12-22 10:20:30.000',
      ts: '2008-12-22 23:59:59.50',
      tm: '10:00:00.500',
      tneg: '-838:59:59',
      j: '{"a": [1, 2.50, 12345678901234567890]}',
      b: '0x00FF10',
      bt: '0x0A',
      tf: 1,
      amount: '10.50',
      sum: 30,
      big: '9007199254740993',
      f: 0.1,
      y: 2008,
    };
    // A child process per time zone far from UTC: nothing may depend on the client's zone.
    const child = `
      const { connectMysql } = await import(${JSON.stringify(new URL('../../src/dialect/mysql/index.ts', import.meta.url).href)});
      const d = await connectMysql(${JSON.stringify(MYSQL_TEST_URL)});
      const s = await d.createScratch('values');
      try {
        await s.exec(${JSON.stringify(VALUES_TABLE)});
        await s.exec(${JSON.stringify(VALUES_ROW)});
        const sql = 'SELECT v.*, (SELECT SUM(x) FROM (SELECT 10 AS x UNION ALL SELECT 20) s) AS sum FROM v';
        const w = await s.openSession('alice', 'read-committed');
        const out = {
          offset: new Date(2008, 11, 22).getTimezoneOffset(),
          text: (await s.exec(sql)).rows[0],
          binary: (await s.exec(sql + ' WHERE 1 = ?', [1])).rows[0],
          worker: (await w.query(sql + ' WHERE 1 = ?', [1])).rows[0],
          server: (await s.exec('SELECT CAST(d AS CHAR) AS d, CAST(dt3 AS CHAR) AS dt3, CAST(ts AS CHAR) AS ts, CAST(tm AS CHAR) AS tm FROM v')).rows[0],
        };
        process.stdout.write(JSON.stringify(out));
      } finally {
        await s.drop();
        await d.close();
      }`;
    for (const tz of ['Asia/Tokyo', 'America/Los_Angeles']) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
        env: { ...process.env, TZ: tz },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { offset: number; text: object; binary: object; worker: object; server: Record<string, string> };
      assert.notEqual(out.offset, 0, `${tz} is not UTC`);
      assert.deepEqual(out.text, expected, `${tz}, text protocol`);
      assert.deepEqual(out.binary, expected, `${tz}, binary protocol (bound parameters)`);
      assert.deepEqual(out.worker, expected, `${tz}, a worker session`);
      assert.deepEqual(out.server, { d: expected.d, dt3: expected.dt3, ts: expected.ts, tm: expected.tm }, 'what the server itself prints');
    }
  });

  test('Dialect.close() drops scratches still open', async (t) => {
    if (!(await requireMysql(t))) return;
    const d = await connectMysql(MYSQL_TEST_URL);
    const s = await d.createScratch('close drops');
    created.add(s.name);
    await s.exec('CREATE TABLE x (id int PRIMARY KEY)');
    const a = await s.openSession('alice', 'repeatable-read');
    await a.query('BEGIN');
    await a.query('INSERT INTO x VALUES (1)');
    await d.close();
    await d.close();
    const raw = await rawMysql();
    try {
      const [rows] = (await raw.query('SHOW DATABASES LIKE ?', [s.name])) as unknown as [unknown[]];
      assert.equal(rows.length, 0);
    } finally {
      await raw.end();
    }
  });

  test('row lock wait: seen within a few ms with its holder, and gone as soon as it is over', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('row wait');
    const detect: number[] = [];
    for (let trial = 0; trial < 7; trial++) {
      await a.query('BEGIN');
      await a.query('UPDATE t SET v = v + 1 WHERE id = 1');
      await b.query('BEGIN');
      const t0 = performance.now();
      const p = b.query('UPDATE t SET v = v + 10 WHERE id = 1');
      const seen = await pollWaits(s, ids, (w) => w.has(b.backendId));
      detect.push(performance.now() - t0);
      assert.deepEqual(seen.waits.get(b.backendId), [a.backendId], 'names the holder');
      assert.equal(seen.waits.has(a.backendId), false, 'the holder is not waiting');
      await a.query('COMMIT');
      await p;
      // The stale-cache false positive: information_schema would still show this wait for up to
      // 100 ms. Ask many times right away; it must never come back.
      for (let i = 0; i < 20; i++) assert.deepEqual([...(await s.lockWaits(ids))], [], `poll ${i} after the wait ended`);
      await b.query('COMMIT');
    }
    t.diagnostic(`detection ms (from sending the blocking UPDATE): ${detect.map((x) => x.toFixed(2)).join(' ')}`);
    assert.ok(median(detect) < 25, `median detection ${median(detect).toFixed(2)} ms`);
    const final = await s.exec('SELECT v FROM t WHERE id = 1');
    assert.equal(final.rows[0]!.v, 100 + 7 * 11);
    await s.drop();
  });

  test('row lock wait behind SELECT ... FOR UPDATE: holder named at once, even while another client keeps information_schema stale', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('for update wait');
    // Another client reading the lock views back to back keeps MariaDB's cache from refreshing,
    // so information_schema cannot name the holder; the scratch's own sessions can.
    const reader = await rawMysql();
    let reading = true;
    const readerDone = (async () => {
      while (reading) await reader.query('SELECT COUNT(*) FROM information_schema.INNODB_LOCK_WAITS');
    })();
    const took: number[] = [];
    try {
      for (let trial = 0; trial < 5; trial++) {
        await a.query('BEGIN');
        await a.query('SELECT v FROM t WHERE id = ? FOR UPDATE', [1]);
        await b.query('BEGIN');
        const t0 = performance.now();
        const p = b.query('SELECT v FROM t WHERE id = ? FOR UPDATE', [1]);
        const seen = await pollWaits(s, ids, (w) => w.has(b.backendId), 2_000);
        took.push(performance.now() - t0);
        assert.deepEqual(seen.waits.get(b.backendId), [a.backendId], 'the first report names the holder');
        await a.query('COMMIT');
        await p;
        assert.deepEqual([...(await s.lockWaits(ids))], []);
        await b.query('COMMIT');
      }
    } finally {
      reading = false;
      await readerDone;
      await reader.end();
    }
    t.diagnostic(`FOR UPDATE holder: reported after ${took.map((x) => x.toFixed(1)).join(' ')} ms`);
    assert.ok(median(took) < 25, `median ${median(took).toFixed(1)} ms`);
    await s.drop();
  });

  test('a wait for a shared lock (SERIALIZABLE read) names the reading transaction at once', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('shared wait', 'repeatable-read');
    const aS = await s.openSession('alice-s', 'serializable');
    await aS.query('BEGIN');
    await aS.query('SELECT v FROM t WHERE id = ?', [1]); // SERIALIZABLE: a shared lock on row 1
    await b.query('BEGIN');
    const p = b.query('UPDATE t SET v = 0 WHERE id = ?', [1]);
    const all = [...ids, aS.backendId];
    // a is idle with no transaction: the only other open transaction is alice-s's.
    const seen = await pollWaits(s, all, (w) => w.has(b.backendId), 2_000);
    assert.deepEqual(seen.waits.get(b.backendId), [aS.backendId]);
    assert.ok(seen.ms < 100, `${seen.ms.toFixed(1)} ms`);
    await aS.query('COMMIT');
    await p;
    await b.query('COMMIT');
    void a;
    await s.drop();
  });

  test('with two other open transactions the holder is not guessed: only the real one is named', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('two candidates');
    const c = await s.openSession('carol', 'read-committed');
    await c.query('BEGIN');
    await c.query('SELECT v FROM t WHERE id = ? FOR UPDATE', [2]);
    await a.query('BEGIN');
    await a.query('SELECT v FROM t WHERE id = ? FOR UPDATE', [1]);
    await b.query('BEGIN');
    const p = b.query('SELECT v FROM t WHERE id = ? FOR UPDATE', [1]);
    const all = [...ids, c.backendId];
    // Reported at the latest after the hold-back bound; the list may be empty (holder unknown)
    // when information_schema cannot be read fresh, but it never names carol.
    const seen = await pollWaits(s, all, (w) => w.has(b.backendId), 2_000);
    assert.ok(!seen.waits.get(b.backendId)!.includes(c.backendId), JSON.stringify([...seen.waits]));
    await a.query('COMMIT');
    await p;
    await b.query('COMMIT');
    await c.query('COMMIT');
    await s.drop();
  });

  test('reported bug: a holder once named stays named when a third session opens a transaction (SERIALIZABLE)', async (t) => {
    if (!(await requireMysql(t))) return;
    const s = await scratch('three serializable');
    await s.exec('CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)');
    await s.exec('INSERT INTO t VALUES (1, 100), (2, 200)');
    const [a, b, c] = [
      await s.openSession('alice', 'serializable'),
      await s.openSession('bob', 'serializable'),
      await s.openSession('carol', 'serializable'),
    ];
    const all = [a.backendId, b.backendId, c.backendId];
    await a.query('BEGIN');
    await a.query('SELECT v FROM t WHERE id = 1'); // a shared lock on row 1
    await b.query('BEGIN');
    const p = b.query('UPDATE t SET v = v + 1 WHERE id = 1');
    const seen = await pollWaits(s, all, (w) => w.has(b.backendId));
    assert.deepEqual(seen.waits.get(b.backendId), [a.backendId]);
    await c.query('BEGIN');
    await c.query('SELECT v FROM t WHERE id = 2'); // carol: another read-only transaction with a lock
    for (let i = 0; i < 20; i++)
      assert.deepEqual(
        [...(await s.lockWaits(all))].map(([id, w]) => [id, w.holders]),
        [[b.backendId, [a.backendId]]],
        `poll ${i}`,
      );
    await a.query('COMMIT');
    await p;
    await b.query('COMMIT');
    await c.query('COMMIT');
    await s.drop();
  });

  test('reported bug, end to end: the transcript never says "another session" for a named holder', async (t) => {
    if (!(await requireMysql(t))) return;
    const [plan] = plansFrom(THREE_SERIALIZABLE, 'mariadb', () => '?');
    const run = await runVariant(await db(), plan!);
    const text = new TextReporter({ color: false, verbose: false }).variant({ mode: 'schedule', run, verdict: detect(run) });
    assert.ok(!text.includes('another session'), text);
    assert.equal(text.split('⏳ bob waits for alice').length - 1, 1, text);
    const write = run.steps.find((x) => x.worker === 'bob' && x.step === 'write')!;
    assert.deepEqual([write.blocked, write.blockedBy], [true, ['alice']]);
  });

  test('AB/BA deadlock: one victim, 1213, whole transaction rolled back', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('ab ba');
    const lastDeadlock = () => (s as Scratch & { lastDeadlock(): Promise<DeadlockReport | null> }).lastDeadlock();
    assert.equal(await lastDeadlock(), null, "the server's latest deadlock, if any, is not this run's");
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE t SET v = v + 1 WHERE id = 1');
    await b.query('UPDATE t SET v = v + 1 WHERE id = 2');
    const pa = a.query('UPDATE t SET v = v + 1 WHERE id = 2');
    pa.catch(() => undefined);
    await pollWaits(s, ids, (w) => w.get(a.backendId)?.includes(b.backendId) ?? false);
    const pb = b.query('UPDATE t SET v = v + 1 WHERE id = 1');
    const settled = await Promise.allSettled([pa, pb]);
    const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ i, e: r.reason as unknown }] : []));
    assert.equal(failed.length, 1, 'exactly one victim');
    assertQueryError(failed[0]!.e, { code: '1213', kind: 'deadlock', rolledBack: 'transaction' });
    const [victim, survivor] = failed[0]!.i === 0 ? [a, b] : [b, a];
    assert.equal(await inTransaction(victim), 0, 'the victim has no transaction any more');
    assert.equal(await inTransaction(survivor), 1);
    // InnoDB's own report names the same victim and who waited for whom.
    const report = await lastDeadlock();
    assert.ok(report, 'the deadlock report is there');
    assert.equal(report.victimThreadId, victim.backendId);
    assert.deepEqual(
      report.cycle.map((m) => [m.threadId, m.waitsForThreadId, m.lock?.table, m.lock?.mode]).sort(),
      [
        [a.backendId, b.backendId, 't', 'X'],
        [b.backendId, a.backendId, 't', 'X'],
      ].sort(),
    );
    await survivor.query('COMMIT');
    await victim.query('ROLLBACK');
    t.diagnostic(`victim: ${victim.worker}`);
    await s.drop();
  });

  test('1213 from a GET_LOCK deadlock keeps the transaction: rolledBack is statement', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('user lock deadlock');
    const [x, y] = [`lockrepro_test_${randomBytes(4).toString('hex')}_x`, `lockrepro_test_${randomBytes(4).toString('hex')}_y`];
    await a.query('BEGIN');
    await a.query('UPDATE t SET v = 1 WHERE id = 1');
    await b.query('BEGIN');
    await b.query('UPDATE t SET v = 2 WHERE id = 2');
    await a.query('SELECT GET_LOCK(?, 0)', [x]);
    await b.query('SELECT GET_LOCK(?, 0)', [y]);
    const pa = a.query('SELECT GET_LOCK(?, 10) AS g', [y]);
    pa.catch(() => undefined);
    await pollWaits(s, ids, (w) => w.has(a.backendId));
    const pb = b.query('SELECT GET_LOCK(?, 10) AS g', [x]);
    const settled = await Promise.allSettled([pa, pb]);
    const failed = settled.filter((r) => r.status === 'rejected');
    assert.equal(failed.length, 1);
    const e = (failed[0] as PromiseRejectedResult).reason as unknown;
    assert.ok(e instanceof QueryError);
    assert.equal(e.db.kind, 'deadlock');
    // Whatever the server did, rolledBack must match @@in_transaction.
    const victim = settled[0]!.status === 'rejected' ? a : b;
    const open = await inTransaction(victim);
    assert.equal(e.db.rolledBack, open ? 'statement' : 'transaction');
    t.diagnostic(`user-lock deadlock: code ${e.db.code}, rolledBack ${e.db.rolledBack}`);
    await a.query('ROLLBACK');
    await b.query('ROLLBACK');
    await s.drop(); // closing the connections releases the user locks
  });

  test('1205 lock wait timeout: only the statement is rolled back, the transaction goes on', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b } = await twoSessions('lock timeout');
    await a.query('BEGIN');
    await a.query('UPDATE t SET v = v + 1 WHERE id = 1');
    await b.query('SET SESSION innodb_lock_wait_timeout = 1');
    await b.query('BEGIN');
    await b.query('UPDATE t SET v = 999 WHERE id = 2');
    const e = await rejection(b.query('UPDATE t SET v = v + 1 WHERE id = 1'));
    assertQueryError(e, { code: '1205', kind: 'lock-timeout', rolledBack: 'statement' });
    assert.equal(await inTransaction(b), 1);
    assert.equal((await b.query('SELECT v FROM t WHERE id = 2')).rows[0]!.v, 999, 'its earlier write is still there');
    await b.query('ROLLBACK');
    await a.query('ROLLBACK');
    await s.drop();
  });

  test("a scenario's own lock wait timeouts stand: lockrepro sets its defaults once, when the session opens", async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b } = await twoSessions('own timeouts');
    const timeouts = async () => (await b.query('SELECT @@innodb_lock_wait_timeout AS row_wait, @@lock_wait_timeout AS mdl_wait')).rows[0];
    assert.deepEqual(await timeouts(), { row_wait: 50, mdl_wait: 50 }, "lockrepro's defaults");
    await b.query('SET SESSION innodb_lock_wait_timeout = 1');
    await b.query('SET SESSION lock_wait_timeout = 2');
    // Statements of every kind lockrepro runs for a session: plain, bound, an error and its probe.
    await b.query('SELECT 1');
    await b.query('SELECT ? AS x', [1]);
    assertQueryError(await rejection(b.query('INSERT INTO t VALUES (1, 0)')), {
      code: '1062',
      kind: 'unique-violation',
      rolledBack: 'statement',
    });
    assert.deepEqual(await timeouts(), { row_wait: 1, mdl_wait: 2 });
    await a.query('BEGIN');
    await a.query('UPDATE t SET v = v + 1 WHERE id = 1');
    const t0 = performance.now();
    assertQueryError(await rejection(b.query('UPDATE t SET v = 0 WHERE id = 1')), {
      code: '1205',
      kind: 'lock-timeout',
      rolledBack: 'statement',
    });
    const ms = performance.now() - t0;
    assert.ok(ms < 10_000, `1205 after ${ms.toFixed(0)} ms: the scenario's 1 s, not lockrepro's 50 s`);
    assert.deepEqual(await timeouts(), { row_wait: 1, mdl_wait: 2 });
    await a.query('ROLLBACK');
    await s.drop();
  });

  test("a scenario's own lock wait timeout stands, end to end: its step times out at the server's 1205", async (t) => {
    if (!(await requireMysql(t))) return;
    const [plan] = plansFrom(OWN_TIMEOUT, 'mariadb', () => '?');
    const run = await runVariant(await db(), plan!);
    const wait = run.steps.find((x) => x.worker === 'bob' && x.step === 'write')!;
    assert.equal(wait.error?.code, '1205', JSON.stringify(wait));
    assert.equal(wait.hang, false, "the server's lock wait timeout, not lockrepro's step timeout");
    const after = run.steps.find((x) => x.worker === 'bob' && x.step === 'show')!;
    assert.deepEqual(after.rows, [{ t: 1 }]);
  });

  test('1062 duplicate entry', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a } = await twoSessions('duplicate');
    await a.query('BEGIN');
    const e = await rejection(a.query('INSERT INTO t VALUES (?, ?)', [1, 5]));
    assertQueryError(e, { code: '1062', kind: 'unique-violation', rolledBack: 'statement' });
    assert.equal(await inTransaction(a), 1);
    await a.query('ROLLBACK');
    await s.drop();
  });

  test('1020 record changed (MariaDB snapshot isolation): serialization, transaction rolled back', async (t) => {
    if (!(await requireMysql(t))) return;
    if (!('innodb_snapshot_isolation' in (await db()).info.settings)) {
      // CI's MariaDB 10.11 has it: there a missing setting is a failure, not a skip.
      if (process.env.CI === 'true') assert.fail('CI=true: the server has no innodb_snapshot_isolation (MariaDB 10.11.8+ expected)');
      t.diagnostic('SKIPPING: this server has no innodb_snapshot_isolation (MariaDB 10.6.18+/10.11.8+)');
      t.skip('server has no innodb_snapshot_isolation');
      return;
    }
    const { s, a, b } = await twoSessions('snapshot', 'repeatable-read');
    await a.query('SET SESSION innodb_snapshot_isolation = ON');
    await a.query('BEGIN');
    await a.query('UPDATE t SET v = 0 WHERE id = 2');
    await a.query('SELECT v FROM t WHERE id = 1');
    await b.query('UPDATE t SET v = v + 1 WHERE id = 1');
    const e = await rejection(a.query('UPDATE t SET v = v - 1 WHERE id = 1'));
    assertQueryError(e, { code: '1020', kind: 'serialization', rolledBack: 'transaction' });
    assert.equal(await inTransaction(a), 0);
    assert.equal((await s.exec('SELECT v FROM t WHERE id = 2')).rows[0]!.v, 200, 'its earlier write was undone');
    await s.drop();
  });

  test('GET_LOCK wait is reported, with the holder', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('user lock');
    const name = `lockrepro_test_${randomBytes(4).toString('hex')}`;
    assert.equal((await a.query(`SELECT GET_LOCK('${name}', 0) AS g`)).rows[0]!.g, 1);
    const p = b.query('SELECT GET_LOCK(?, 10) AS g', [name]);
    const seen = await pollWaits(s, ids, (w) => w.has(b.backendId));
    assert.deepEqual(seen.waits.get(b.backendId), [a.backendId]);
    t.diagnostic(`GET_LOCK wait seen after ${seen.ms.toFixed(2)} ms`);
    await a.query('SELECT RELEASE_LOCK(?)', [name]);
    assert.equal((await p).rows[0]!.g, 1);
    assert.deepEqual([...(await s.lockWaits(ids))], []);
    await b.query('SELECT RELEASE_LOCK(?)', [name]);
    await s.drop();
  });

  test('LOCK TABLES (metadata lock) wait is reported as waiting', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('table lock');
    await a.query('LOCK TABLES t WRITE');
    const p = b.query('SELECT COUNT(*) AS n FROM t');
    const seen = await pollWaits(s, ids, (w) => w.has(b.backendId));
    const blockers = seen.waits.get(b.backendId)!;
    assert.ok(blockers.length === 0 || (blockers.length === 1 && blockers[0] === a.backendId), JSON.stringify(blockers));
    await a.query('UNLOCK TABLES');
    assert.equal((await p).rows[0]!.n, 2);
    assert.deepEqual([...(await s.lockWaits(ids))], []);
    await s.drop();
  });

  test('cancel and terminate', async (t) => {
    if (!(await requireMysql(t))) return;
    const { s, a, b, ids } = await twoSessions('cancel');
    await a.query('BEGIN');
    await a.query('UPDATE t SET v = 0 WHERE id = 1');
    await b.query('BEGIN');
    await b.query('UPDATE t SET v = 0 WHERE id = 2');
    const p = b.query('UPDATE t SET v = 1 WHERE id = 1');
    p.catch(() => undefined);
    await pollWaits(s, ids, (w) => w.has(b.backendId));
    await s.cancel(b.backendId);
    assertQueryError(await rejection(p), { code: '1317', kind: 'timeout', rolledBack: 'statement' });
    assert.equal(await inTransaction(b), 1);

    const p2 = b.query('UPDATE t SET v = 2 WHERE id = 1');
    p2.catch(() => undefined);
    await pollWaits(s, ids, (w) => w.has(b.backendId));
    await s.terminate(b.backendId);
    const e = await rejection(p2);
    assert.ok(e instanceof Error && !(e instanceof QueryError), String(e));
    await b.close();
    await assert.rejects(s.cancel(12345678), /not one of this run's sessions/);
    await a.query('ROLLBACK');
    await s.drop();
  });

  test('a password never shows: info, query errors, unreachable and refused connections', async (t) => {
    if (!(await requireMysql(t))) return;
    const hex = randomBytes(4).toString('hex');
    const user = `lockrepro_pw_${hex}`;
    const password = `S3cr3t-${hex}/p@ss:w%rd`;
    const raw = await rawMysql();
    try {
      await raw.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [user, password]);
      await raw.query(`GRANT PROCESS ON *.* TO ?@'%'`, [user]);
      await raw.query(`GRANT ALL PRIVILEGES ON \`lockrepro\\_%\`.* TO ?@'%'`, [user]);
      const url = withCredentials(MYSQL_TEST_URL, user, password, '');
      const visible = (text: string) =>
        text.includes(password) || text.includes(encodeURIComponent(password)) || text.includes(`S3cr3t-${hex}`);

      const d = await connectMysql(url);
      try {
        assert.ok(!visible(JSON.stringify(d.info)), 'info');
        const s = await d.createScratch('password');
        created.add(s.name);
        // A word of the scenario's own SQL stays readable in the server's answer, even when it is
        // the password: masking is for where a password can appear (URLs, password= settings).
        const e = await rejection(s.exec(`SELECT * FROM \`${password}\``));
        assert.ok(e instanceof QueryError);
        assert.ok(e.message.includes(password), e.message);
        const e2 = await rejection(s.exec(`SELECT * FROM \`mysql://${user}:${password}@h\``));
        assert.ok(e2 instanceof QueryError && !visible(e2.message), String(e2));
        assert.match(e2.message, new RegExp(`mysql://${user}:\\*\\*\\*@h`));
        await s.drop();
      } finally {
        await d.close();
      }

      const port = await closedPort();
      const wrongPort = new URL(url);
      wrongPort.port = String(port);
      const down = await rejection(connectMysql(wrongPort.toString()));
      assert.ok(down instanceof DatabaseUnavailableError, String(down));
      assert.ok(!visible(down.message), down.message);
      assert.ok(!down.message.includes('\n'), 'one line');
      assert.match(down.message, new RegExp(`^cannot connect to mysql://${user}:\\*\\*\\*@127\\.0\\.0\\.1:${port}/?: .*ECONNREFUSED`));
      t.diagnostic(down.message);

      const badPassword = `${password}-wrong`;
      const denied = await rejection(connectMysql(withCredentials(MYSQL_TEST_URL, user, badPassword, '')));
      assert.ok(denied instanceof DatabaseUnavailableError);
      assert.ok(!denied.message.includes(badPassword) && !visible(denied.message), denied.message);
      assert.match(denied.message, /Access denied/);
    } finally {
      await raw.query(`DROP USER IF EXISTS ?@'%'`, [user]).catch(() => undefined);
      await raw.end();
    }
  });

  test('leaves no scratch database behind', async (t) => {
    if (!(await requireMysql(t))) return;
    await dialect?.close();
    dialect = undefined;
    const raw = await rawMysql();
    try {
      const [rows] = (await raw.query(`SHOW DATABASES LIKE 'lockrepro%'`)) as unknown as [Record<string, string>[]];
      const left = rows.map((r) => Object.values(r)[0]!).filter((n) => created.has(n));
      assert.deepEqual(left, []);
      assert.ok(created.size >= 10, `checked ${created.size} databases`);
    } finally {
      await raw.end();
    }
  });
});
