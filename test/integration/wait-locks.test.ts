// Issue #11 "which lock": every wait names its lock. Done when JSON `steps[].lock.table` is
// `account` for every wait in ab-ba-deadlock on PostgreSQL 15, MariaDB and the embedded server;
// and the key is the row the waiting step updates, the same every run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main.js';
import { connectDatabase } from '../../src/dialect/connect.js';
import { QueryError } from '../../src/engine/dialect.js';
import { redactUrl } from '../../src/util/redact.js';
import { GOLDEN_TARGETS } from '../helpers/golden.js';
import { gate, type Gate } from '../helpers/servers.js';

interface StepJson {
  worker: string;
  step: string;
  sql: string;
  blocked: boolean;
  lock?: { kind: string; table: string | null; detail: string } | null;
}

async function runJson(url: string | undefined, scenario: string): Promise<{ code: number; steps: StepJson[] }> {
  let stdout = '';
  const code = await main(['run', scenario, '--json', ...(url === undefined ? [] : ['--db', url])], {
    out: (t) => {
      stdout += t;
    },
    err: () => undefined,
    env: { ...process.env, LOCKREPRO_DB: '' },
    isTTY: false,
  });
  const report = JSON.parse(stdout) as { scenarios: { variants: { steps: StepJson[] }[] }[] };
  return { code, steps: report.scenarios.flatMap((s) => s.variants.flatMap((v) => v.steps)) };
}

const gates: Gate[] = [];
for (const t of GOLDEN_TARGETS) {
  gates.push(
    t.url === undefined ? { skip: false, require: () => undefined } : gate(`${t.label} at ${redactUrl(t.url)}`, await t.unreachable()),
  );
}

for (const [i, target] of GOLDEN_TARGETS.entries()) {
  // ab-ba-deadlock does not run on SQLite (one write lock for the whole file: see its notes);
  // SQLite's waits are on that lock, tested in sqlite.test.ts.
  if (target.engine === 'sqlite') continue;
  const g = gates[i]!;
  describe(`the lock each wait is on, ${target.label}`, { skip: g.skip }, () => {
    test('ab-ba-deadlock: every wait is on a row of account, the one its step updates', async () => {
      g.require();
      const { code, steps } = await runJson(target.url, 'ab-ba-deadlock');
      assert.equal(code, 0);
      const waits = steps.filter((s) => s.blocked);
      // alice and bob in the bug, bob in the fix.
      assert.equal(waits.length, 3, JSON.stringify(waits));
      for (const s of waits) {
        assert.equal(s.lock?.table, 'account', `${s.worker}.${s.step}`);
        assert.equal(s.lock?.kind, 'row');
        assert.equal(s.lock?.detail, `id=${/WHERE id = (\d+)/.exec(s.sql)![1]}`, `${s.worker}.${s.step}: ${s.sql}`);
      }
      for (const s of steps.filter((x) => !x.blocked)) assert.equal('lock' in s, false, 'no lock for a step that did not wait');
    });
  });
}

const pg = GOLDEN_TARGETS.find((t) => t.name === 'postgres-15')!;
const pgGate = gates[GOLDEN_TARGETS.indexOf(pg)]!;
describe('other kinds of lock on PostgreSQL 15', { skip: pgGate.skip }, () => {
  test('LOCK TABLE waits name the table and the mode asked for', async () => {
    pgGate.require();
    const { steps } = await runJson(pg.url, 'table-lock-deadlock');
    const locks = steps.filter((s) => s.blocked).map((s) => s.lock);
    assert.ok(locks.length > 0);
    for (const l of locks)
      assert.deepEqual(l, { kind: 'table', table: /auth_user|user_profile/.exec(l!.table ?? '')?.[0], detail: 'ExclusiveLock' });
  });

  test('pg_advisory_xact_lock waits name the key', async () => {
    pgGate.require();
    const { steps } = await runJson(pg.url, 'bootstrap-lock-order');
    const advisory = steps.filter((s) => s.blocked && s.lock?.kind === 'advisory');
    assert.ok(advisory.length > 0, JSON.stringify(steps.filter((s) => s.blocked).map((s) => s.lock)));
    for (const s of advisory) assert.match(s.lock!.detail, /^key \d+$/);
  });
});

describe("a deadlock victim's lock from its error, on PostgreSQL 15 (the monitor may never see its wait)", { skip: pgGate.skip }, () => {
  /** Two sessions, each holding what the other then asks for; the victim's report of its own wait. */
  async function victimLock(setup: string[], first: [string, string], second: [string, string]) {
    const dialect = await connectDatabase(pg.url);
    const scratch = await dialect.createScratch('victim-lock');
    try {
      for (const sql of setup) await scratch.exec(sql);
      const a = await scratch.openSession('a', 'read-committed');
      const b = await scratch.openSession('b', 'read-committed');
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query(first[0]);
      await b.query(second[0]);
      const aWaits = a.query(first[1]).catch((e: unknown) => e);
      // No sleeping: poll until a's wait shows, then close the cycle.
      for (let i = 0; !(await scratch.lockWaits([a.backendId])).has(a.backendId); i++) assert.ok(i < 5000, 'a never waited');
      const bOutcome = await b.query(second[1]).catch((e: unknown) => e);
      const aOutcome = await aWaits;
      const err = [aOutcome, bOutcome].find((e) => e instanceof QueryError) as QueryError;
      assert.ok(err, 'one of them is the victim');
      const victim = err === bOutcome ? b : a;
      return err.db.deadlock?.waits.find((w) => w.waiter === victim.backendId)?.waitLock;
    } finally {
      await scratch.drop();
      await dialect.close();
    }
  }

  const ACCOUNTS = ['CREATE TABLE account (id int PRIMARY KEY, balance int NOT NULL)', 'INSERT INTO account VALUES (1, 100), (2, 100)'];
  const cases: [string, string[], (key: 1 | 2) => string, unknown][] = [
    ['an UPDATE', ACCOUNTS, (k) => `UPDATE account SET balance = 0 WHERE id = ${k}`, { kind: 'row', table: 'account', detail: 'id=1' }],
    [
      'SELECT … FOR UPDATE',
      ACCOUNTS,
      (k) => `SELECT 1 FROM account WHERE id = ${k} FOR UPDATE`,
      { kind: 'row', table: 'account', detail: 'id=1' },
    ],
    [
      'LOCK TABLE',
      ['CREATE TABLE t1 (x int)', 'CREATE TABLE t2 (x int)'],
      (k) => `LOCK TABLE t${k} IN EXCLUSIVE MODE`,
      { kind: 'table', table: 't1', detail: 'ExclusiveLock' },
    ],
    ['pg_advisory_xact_lock', [], (k) => `SELECT pg_advisory_xact_lock(${k})`, { kind: 'advisory', table: null, detail: 'key 1' }],
  ];
  for (const [what, setup, take, expected] of cases) {
    test(`${what}: the words the monitor gives`, async () => {
      pgGate.require();
      // a takes 1 then 2, b takes 2 then 1: b closes the cycle and is the victim, waiting for 1.
      assert.deepEqual(await victimLock(setup, [take(1), take(2)], [take(2), take(1)]), expected);
    });
  }
});
