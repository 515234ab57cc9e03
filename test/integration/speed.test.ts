// Issue #10 on the CI machine's PostgreSQL 15: a scratch database reset between runs leaves nothing
// of the last run behind (or says it cannot, and a new one is made), and partial-order reduction
// finds the same outcomes as running every interleaving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectDatabase } from '../../src/dialect/connect.js';
import type { Dialect } from '../../src/engine/dialect.js';
import { runVariant, ScratchLane } from '../../src/engine/run.js';
import { detect } from '../../src/detect/detect.js';
import { planScenario, type VariantPlan } from '../../src/plan/plan.js';
import { chooseInterleavings, withInterleaving } from '../../src/plan/interleavings.js';
import { runInterleavings } from '../../src/modes/run-modes.js';
import { loadTargets } from '../../src/scenario/load.js';
import { PG_URL, pgGate } from '../helpers/servers.js';
import { scenarioFrom } from '../helpers/scenario.js';

const pg15 = await pgGate();

function plans(dialect: Dialect, name: string): VariantPlan[] {
  const { scenarios } = loadTargets([name]);
  const r = planScenario(scenarios[0]!, { engine: dialect.info.dialect, placeholder: (n) => dialect.placeholder(n) });
  assert.deepEqual(r.problems, []);
  return r.plans;
}

describe('PostgreSQL 15: speed without losing what a run means', { skip: pg15.skip }, () => {
  let dialect: Dialect;
  before(async () => {
    pg15.require();
    dialect = await connectDatabase(PG_URL);
  });
  after(async () => {
    await dialect?.close();
  });

  test('a reset scratch holds nothing of the run before: objects, data, sequences, temp tables, session state', async () => {
    const s = await dialect.createScratch('reset-test');
    try {
      await s.exec('CREATE TABLE t (id serial PRIMARY KEY, v int)');
      await s.exec('INSERT INTO t (v) VALUES (1), (2)');
      await s.exec('CREATE SCHEMA other');
      await s.exec('CREATE TABLE other.u (x int)');
      await s.exec("CREATE TYPE mood AS ENUM ('ok')");
      await s.exec("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'");
      await s.exec('CREATE TEMP TABLE tmp (x int)');
      await s.exec('PREPARE p AS SELECT 1');
      await s.exec("SET lock_timeout = '1s'");
      await s.exec('BEGIN');
      assert.equal(await s.reset!(), true);
      const left = await s.exec(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')) AS rels, (SELECT count(*) FROM pg_prepared_statements) AS prepared, current_setting('lock_timeout') AS lt, (SELECT count(*) FROM pg_namespace WHERE nspname = 'other') AS other, (SELECT count(*) FROM pg_proc WHERE proname = 'f') AS f",
      );
      assert.deepEqual(left.rows[0], { rels: 0, prepared: 0, lt: '0', other: 0, f: 0 });
      // public is back, usable, and a serial starts again at 1.
      await s.exec('CREATE TABLE t (id serial PRIMARY KEY, v int)');
      assert.deepEqual((await s.exec('INSERT INTO t (v) VALUES (7) RETURNING id')).rows, [{ id: 1 }]);
    } finally {
      await s.drop();
    }
  });

  test('a reset refuses what it cannot undo: an advisory lock held, a foreign-data wrapper, a database setting', async () => {
    for (const leftover of [
      'SELECT pg_advisory_lock(42)',
      'CREATE FOREIGN DATA WRAPPER lockrepro_reset_test',
      "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '8MB'); END $$",
    ]) {
      const s = await dialect.createScratch('reset-test');
      try {
        assert.equal(await s.reset!(), true, 'a fresh scratch resets');
        await s.exec(leftover);
        assert.equal(await s.reset!(), false, leftover);
      } finally {
        await s.drop();
      }
    }
  });

  test('runs in one lane: the second sees the database as new, and is the same run as in a new database', async () => {
    const sc = scenarioFrom(`
name: reset-sees-nothing
title: a sequence and a row count that show whatever the run before left
story: the second run in a lane must see the database as new
expect: clean
setup:
  - CREATE TABLE item (id serial PRIMARY KEY, n int)
workers:
  alice:
    - { name: add, sql: "INSERT INTO item (n) VALUES (1) RETURNING id" }
    - { name: count, sql: "SELECT count(*) AS c FROM item" }
schedule: [alice.add, alice.count]
checks:
  - { name: one row, sql: "SELECT count(*) AS c FROM item", expect: 1, anomaly: invariant }
`);
    const plan = planScenario(sc, { engine: 'postgres', placeholder: (n) => dialect.placeholder(n) }).plans[0]!;
    const lane = new ScratchLane(dialect, 'lane-test');
    try {
      const first = await runVariant(dialect, plan, {}, undefined, lane);
      const second = await runVariant(dialect, plan, {}, undefined, lane);
      assert.equal(lane.resets, 1, 'the second run reused the scratch database');
      for (const run of [first, second]) {
        assert.deepEqual(
          run.steps.map((s) => s.rows),
          [[{ id: 1 }], [{ c: 1 }]],
        );
        assert.deepEqual(detect(run).observed, []);
      }
    } finally {
      await lane.close();
    }
  });

  for (const name of ['ab-ba-deadlock', 'transfer-lost-update']) {
    test(`${name}: reduction finds the same outcomes as every interleaving`, async () => {
      for (const plan of plans(dialect, name)) {
        const outcome = (r: { verdict: ReturnType<typeof detect> }) => r.verdict.observed.join('+') || 'clean';
        const full = new Set<string>();
        const lane = new ScratchLane(dialect, name);
        try {
          for (const rank of chooseInterleavings(
            plan.workers.map((w) => w.steps.length),
            1000,
          ).ranks) {
            const run = await runVariant(dialect, withInterleaving(plan, rank), {}, undefined, lane);
            full.add(outcome({ verdict: detect(run) }));
          }
        } finally {
          await lane.close();
        }
        const reduced = await runInterleavings(dialect, plan, 1000, {});
        assert.ok((reduced.explored!.equivalent ?? 0n) > 0n, 'some interleavings were skipped');
        assert.deepEqual(
          Object.keys(reduced.explored!.byAnomaly).sort(),
          [...full]
            .filter((o) => o !== 'clean')
            .flatMap((o) => o.split('+'))
            .filter((a, i, all) => all.indexOf(a) === i)
            .sort(),
          `${plan.name}: the anomalies seen`,
        );
        assert.equal(reduced.explored!.runs > reduced.explored!.failing, full.has('clean'), `${plan.name}: a clean interleaving exists`);
      }
    });
  }
});
