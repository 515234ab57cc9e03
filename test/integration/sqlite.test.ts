// SQLite (issue #12): no server, so these run everywhere. The dialect's lock model against real
// SQLite (every answer below is one SQLite gave: sqlite-notes), the scheduler's busy-timeout hook,
// and the issue's "done when": seed 002's two scenarios on SQLite in both journal modes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Dialect, Scratch, Session } from '../../src/engine/dialect.js';
import { QueryError } from '../../src/engine/dialect.js';
import { BadDatabaseUrl } from '../../src/errors.js';
import { connectSqlite, parseSqliteUrl, sweepDeadRuns } from '../../src/dialect/sqlite/index.js';
import { lockrepro, noStack, scratchFolder } from '../helpers/cli.js';
import { sqliteGate } from '../helpers/servers.js';

const sqlite = sqliteGate();

type Outcome = { ok: true; rows: Record<string, unknown>[] } | { ok: false; code: string; kind: string; waits: unknown };

/** The query's outcome once it settles (its promise stays pending while SQLite would make it wait). */
function outcome(p: Promise<{ rows: Record<string, unknown>[] }>): { settled: () => Outcome | null } {
  let o: Outcome | null = null;
  p.then(
    (r) => (o = { ok: true, rows: r.rows }),
    (e) => {
      assert.ok(e instanceof QueryError, String(e));
      o = { ok: false, code: e.db.code, kind: e.db.kind, waits: e.db.deadlock?.waits ?? null };
    },
  );
  return { settled: () => o };
}

/** Let promise callbacks run (no timers: a settled promise's callbacks run within a few ticks). */
const ticks = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

async function withScratch(url: string, body: (scratch: Scratch, a: Session, b: Session) => Promise<void>): Promise<void> {
  const dialect: Dialect = await connectSqlite(url);
  try {
    const scratch = await dialect.createScratch('sqlite-test');
    await scratch.exec('CREATE TABLE account (id INTEGER PRIMARY KEY, balance int NOT NULL)');
    await scratch.exec('INSERT INTO account VALUES (1, 100)');
    const a = await scratch.openSession('alice', 'serializable');
    const b = await scratch.openSession('bob', 'serializable');
    await body(scratch, a, b);
    await scratch.drop();
  } finally {
    await dialect.close();
  }
}

describe('SQLite dialect: what a real application would see', { skip: sqlite.skip }, () => {
  for (const [url, kind] of [
    ['sqlite:', 'deadlock'],
    ['sqlite:?journal=wal', 'serialization'],
  ] as const) {
    test(`${url}: a transaction that read cannot wait for the write lock: SQLITE_BUSY at once, kind ${kind}`, async () => {
      await withScratch(url, async (scratch, a, b) => {
        for (const s of [a, b]) {
          await s.query('BEGIN');
          await s.query('SELECT balance FROM account WHERE id = 1');
        }
        await a.query('UPDATE account SET balance = 70 WHERE id = 1');
        const o = outcome(b.query('UPDATE account SET balance = 50 WHERE id = 1'));
        await ticks();
        const got = o.settled();
        assert.ok(got && !got.ok, 'failed at once, not parked');
        assert.equal(got.code, 'SQLITE_BUSY');
        assert.equal(got.kind, kind);
        if (kind === 'deadlock') {
          // The cycle SQLite avoided: bob would wait for alice's write lock, alice's COMMIT for bob's read lock.
          assert.deepEqual(
            (got.waits as { waiter: number; holders: number[] }[]).map((w) => [w.waiter, w.holders]),
            [
              [b.backendId, [a.backendId]],
              [a.backendId, [b.backendId]],
            ],
          );
        }
        assert.deepEqual(await scratch.lockWaits([a.backendId, b.backendId]), new Map());
      });
    });

    test(`${url}: a write with no earlier read waits for the writer, and goes on when it commits`, async () => {
      await withScratch(url, async (scratch, a, b) => {
        await a.query('BEGIN');
        await a.query('UPDATE account SET balance = balance - 30 WHERE id = 1');
        const o = outcome(b.query('UPDATE account SET balance = balance - 50 WHERE id = 1'));
        await ticks();
        assert.equal(o.settled(), null, 'still waiting');
        assert.deepEqual(
          await scratch.lockWaits([a.backendId, b.backendId]),
          new Map([
            [b.backendId, { holders: [a.backendId], lock: { kind: 'other', table: null, detail: "RESERVED, the database's write lock" } }],
          ]),
        );
        await a.query('COMMIT');
        await ticks();
        assert.deepEqual(o.settled(), { ok: true, rows: [] });
        assert.deepEqual((await scratch.exec('SELECT balance FROM account')).rows, [{ balance: 20 }]);
      });
    });
  }

  test('rollback journal: a COMMIT waits for the readers, which are named as its holders', async () => {
    await withScratch('sqlite:', async (scratch, a, b) => {
      await a.query('BEGIN');
      await a.query('SELECT balance FROM account');
      await b.query('BEGIN');
      await b.query('UPDATE account SET balance = 0');
      const o = outcome(b.query('COMMIT'));
      await ticks();
      assert.equal(o.settled(), null);
      assert.deepEqual(
        await scratch.lockWaits([b.backendId]),
        new Map([
          [
            b.backendId,
            { holders: [a.backendId], lock: { kind: 'other', table: null, detail: "SHARED, the readers' locks on the database" } },
          ],
        ]),
      );
      await a.query('COMMIT');
      await ticks();
      assert.deepEqual(o.settled(), { ok: true, rows: [] });
    });
  });

  test('WAL: writing after a newer commit is SQLITE_BUSY_SNAPSHOT, a serialization failure', async () => {
    await withScratch('sqlite:?journal=wal', async (_scratch, a, b) => {
      await a.query('BEGIN');
      await a.query('SELECT balance FROM account');
      await b.query('UPDATE account SET balance = 0');
      await assert.rejects(a.query('UPDATE account SET balance = 1'), (e: unknown) => {
        assert.ok(e instanceof QueryError);
        assert.equal(e.db.code, 'SQLITE_BUSY_SNAPSHOT');
        assert.equal(e.db.kind, 'serialization');
        return true;
      });
    });
  });

  test('timeOutWait ends a wait as busy_timeout would (lock-timeout), and only a waiting one', async () => {
    await withScratch('sqlite:', async (scratch, a, b) => {
      await a.query('BEGIN IMMEDIATE');
      const o = outcome(b.query('BEGIN IMMEDIATE'));
      await ticks();
      assert.equal(scratch.timeOutWait?.(a.backendId), false);
      assert.equal(scratch.timeOutWait?.(b.backendId), true);
      await ticks();
      assert.deepEqual(o.settled(), { ok: false, code: 'SQLITE_BUSY', kind: 'lock-timeout', waits: null });
    });
  });

  test('the scratch file is removed by drop(), the folder by close()', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-sqlite-test-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const dialect = await connectSqlite('sqlite:?journal=wal');
      const [dir] = readdirSync(tmp);
      assert.ok(dir);
      const scratch = await dialect.createScratch('files');
      await scratch.exec('CREATE TABLE t (a int)');
      const s = await scratch.openSession('w', 'serializable');
      await s.query('INSERT INTO t VALUES (1)');
      assert.ok(readdirSync(path.join(tmp, dir)).length > 0);
      await scratch.drop();
      assert.deepEqual(readdirSync(path.join(tmp, dir)), []);
      await dialect.close();
      assert.deepEqual(readdirSync(tmp), []);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('URLs: sqlite: and sqlite:?journal=wal|delete, nothing else', () => {
    assert.deepEqual(parseSqliteUrl('sqlite:'), { wal: false });
    assert.deepEqual(parseSqliteUrl('sqlite:?journal=WAL'), { wal: true });
    assert.deepEqual(parseSqliteUrl('sqlite:?journal=delete'), { wal: false });
    for (const bad of ['sqlite:/tmp/x.db', 'sqlite://host', 'sqlite:?journal=memory', 'sqlite:?mode=ro'])
      assert.throws(() => parseSqliteUrl(bad), BadDatabaseUrl, bad);
  });
});

describe('SQLite through the CLI', { skip: sqlite.skip }, () => {
  for (const url of ['sqlite:', 'sqlite:?journal=wal']) {
    // Issue #12's "done when".
    test(`${url}: seed 002's duplicates and lost update, every fix meets its expectation`, () => {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-sqlite-cli-'));
      try {
        const r = lockrepro(['run', 'get-or-create-duplicates', 'transfer-lost-update', '--db', url, '--json'], { TMPDIR: tmp });
        assert.equal(r.code, 0, r.stderr);
        const doc = JSON.parse(r.stdout) as {
          ok: boolean;
          database: { dialect: string };
          scenarios: { name: string; variants: { name: string; fix: boolean; met: boolean; counts: Record<string, number> }[] }[];
        };
        assert.equal(doc.ok, true);
        assert.equal(doc.database.dialect, 'sqlite');
        const [goc, tlu] = doc.scenarios;
        assert.equal(goc?.name, 'get-or-create-duplicates');
        assert.equal(tlu?.name, 'transfer-lost-update');
        assert.equal(goc.variants[0]?.name, 'bug');
        assert.equal(goc.variants[0]?.counts.duplicates, 1);
        assert.equal(tlu.variants[0]?.name, 'bug');
        assert.equal(tlu.variants[0]?.counts.lostUpdates, 1);
        for (const sc of doc.scenarios) for (const v of sc.variants) assert.ok(v.met, `${sc.name} ${v.name} met its expectation`);
        assert.equal(goc.variants.length, 5);
        assert.equal(tlu.variants.length, 6);
        // Every scratch file, and the folder, removed.
        assert.deepEqual(readdirSync(tmp), []);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  }

  test('every unfinished worker waiting is the busy timeout a real application would hit, not a hang', () => {
    const file = scratchFolder()(
      'held.yaml',
      `name: held
title: A transaction that never ends holds the write lock
story: alice takes the write lock and never commits; bob waits for it.
engines: [sqlite]
setup: [CREATE TABLE t (a int)]
workers:
  alice:
    - { name: begin, sql: BEGIN IMMEDIATE }
  bob:
    - { name: begin, sql: BEGIN IMMEDIATE }
    - { name: write, sql: INSERT INTO t VALUES (1) }
schedule: [alice.begin, bob.begin, bob.write]
expect: lock-timeout
`,
    );
    const t0 = performance.now();
    const r = lockrepro(['run', file, '--db', 'sqlite:', '--json', '--step-timeout', '60000']);
    assert.equal(r.code, 0, r.stderr);
    // Not the step timeout's hang: reported as soon as nothing could move.
    assert.ok(performance.now() - t0 < 60_000);
    const v = (
      JSON.parse(r.stdout) as { scenarios: { variants: { counts: Record<string, number>; steps: Record<string, unknown>[] }[] }[] }
    ).scenarios[0]!.variants[0]!;
    assert.equal(v.counts.hangs, 0);
    assert.equal(v.counts.lockTimeouts, 1);
    const bobBegin = v.steps.find((s) => s.worker === 'bob' && s.step === 'begin')!;
    assert.deepEqual(bobBegin.blockedBy, ['alice']);
    assert.deepEqual(bobBegin.error, {
      code: 'SQLITE_BUSY',
      kind: 'lock-timeout',
      message: 'database is locked (busy_timeout: every unfinished worker was waiting, so no lock could be freed)',
      rolledBack: 'statement',
    });
  });

  test('--interleavings: the lost update in some interleavings, the for-update fix in none, no hang', () => {
    const r = lockrepro(['run', 'transfer-lost-update', '--variant', 'bug', 'for-update', '--db', 'sqlite:', '--interleavings', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [bug, fix] = (JSON.parse(r.stdout) as { scenarios: { variants: { runs: number; counts: Record<string, number> }[] }[] })
      .scenarios[0]!.variants;
    assert.equal(bug!.runs, 70);
    assert.ok(bug!.counts.lostUpdates! > 0 && bug!.counts.lostUpdates! < 70, JSON.stringify(bug!.counts));
    assert.equal(fix!.counts.lostUpdates, 0);
    assert.equal(bug!.counts.hangs! + fix!.counts.hangs!, 0);
  });

  test('a bad sqlite URL is bad usage (exit 2), in one line', () => {
    const r = lockrepro(['run', 'transfer-lost-update', '--db', 'sqlite:/tmp/x.db']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sqlite:\/tmp\/x\.db: expected sqlite: or sqlite:\?journal=wal/);
    noStack(r.stderr);
  });
});

test("a killed run's folder of SQLite files is removed by a later run; a live run's and anything else stay", () => {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-sweep-test-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    for (const name of [`lockrepro-sqlite-${dead}-x-abc`, `lockrepro-sqlite-${process.pid}-x-abc`, 'lockrepro-sqlite-old', 'other']) {
      mkdirSync(path.join(parent, name));
    }
    sweepDeadRuns(parent);
    assert.deepEqual(readdirSync(parent).sort(), [`lockrepro-sqlite-${process.pid}-x-abc`, 'lockrepro-sqlite-old', 'other']);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
