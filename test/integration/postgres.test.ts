// The engine against real PostgreSQL: the CI machine's PostgreSQL 15 and the embedded server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectDatabase } from '../../src/dialect/connect.js';
import type { Dialect } from '../../src/engine/dialect.js';
import { RunAborted, runVariant } from '../../src/engine/run.js';
import { detect } from '../../src/detect/detect.js';
import { planScenario } from '../../src/plan/plan.js';
import { loadTargets } from '../../src/scenario/load.js';
import { TextReporter } from '../../src/report/text.js';
import { PG_URL, pgGate } from '../helpers/servers.js';
import { scenarioFrom } from '../helpers/scenario.js';

const external = await pgGate();

async function runBuiltin(dialect: Dialect, name: string) {
  const { scenarios } = loadTargets([name]);
  const r = planScenario(scenarios[0]!, { engine: dialect.info.dialect, placeholder: (n) => dialect.placeholder(n) });
  assert.deepEqual(r.problems, []);
  const out = [];
  for (const plan of r.plans) {
    const run = await runVariant(dialect, plan);
    out.push({ mode: 'schedule' as const, run, verdict: detect(run) });
  }
  return out;
}

/** The dialect, noting the name of every scratch database it creates. */
function recordingScratches(dialect: Dialect): { spy: Dialect; made: string[] } {
  const made: string[] = [];
  const spy: Dialect = Object.create(dialect);
  spy.createScratch = async (label) => {
    const s = await dialect.createScratch(label);
    made.push(s.name);
    return s;
  };
  return { spy, made };
}

/** Scratch databases on the server, asked from a scratch database of its own (works embedded too). */
async function scratchDatabases(dialect: Dialect): Promise<string[]> {
  const probe = await dialect.createScratch('probe');
  try {
    const res = await probe.exec("SELECT datname FROM pg_database WHERE datname LIKE 'lockrepro\\_%' ORDER BY 1");
    return res.rows.map((r) => String(r.datname));
  } finally {
    await probe.drop();
  }
}

for (const target of [
  { label: 'PostgreSQL 15 (CI server)', url: PG_URL, skip: external.skip, require: external.require },
  { label: 'embedded PostgreSQL', url: undefined, skip: false as const, require: () => undefined },
]) {
  describe(target.label, { skip: target.skip }, () => {
    let dialect: Dialect;
    before(async () => {
      target.require();
      dialect = await connectDatabase(target.url);
    });
    after(async () => {
      await dialect?.close();
    });

    test('ab-ba-deadlock: the bug deadlocks, the closer (bob) is the victim every time; the fix is clean', async () => {
      for (let i = 0; i < 3; i++) {
        const [bug, fix] = await runBuiltin(dialect, 'ab-ba-deadlock');
        assert.equal(bug!.verdict.counts.deadlocks, 1);
        assert.equal(bug!.verdict.met, true);
        const victim = bug!.run.steps.find((s) => s.error?.kind === 'deadlock')!;
        assert.equal(`${victim.worker}.${victim.step}`, 'bob.second');
        assert.equal(victim.error!.code, '40P01');
        assert.deepEqual(victim.blockedBy, ['alice']);
        const first = bug!.run.steps.find((s) => s.worker === 'alice' && s.step === 'second')!;
        assert.equal(first.status, 'ok');
        assert.deepEqual(first.blockedBy, ['bob']);
        // The database's own report, with worker names and no ids that change from run to run.
        assert.deepEqual(
          bug!.run.deadlocks.map((d) => [d.victim, [...d.cycle].sort()]),
          [['bob', ['alice', 'bob']]],
        );
        assert.equal(
          bug!.run.deadlocks[0]!.server,
          "bob waits for ShareLock on alice's transaction; blocked by alice.\nalice waits for ShareLock on bob's transaction; blocked by bob.",
        );
        assert.equal(fix!.verdict.met, true);
        assert.deepEqual(fix!.verdict.observed, []);
        assert.equal(fix!.run.steps.find((s) => s.worker === 'bob' && s.step === 'first')!.blocked, true);
      }
    });

    test('transfer-lost-update: the bug loses an update (expected 20, got 50); every fix is clean with all counts 0', async () => {
      const [bug, ...fixes] = await runBuiltin(dialect, 'transfer-lost-update');
      assert.equal(bug!.verdict.counts.lostUpdates, 1);
      assert.deepEqual(
        bug!.verdict.checks.map((c) => [c.expected, c.actual]),
        [[20, 50]],
      );
      assert.ok(fixes.length >= 2);
      for (const f of fixes) {
        assert.equal(f.verdict.met, true, f.run.plan.name);
        assert.deepEqual(f.verdict.observed, [], f.run.plan.name);
        if (f.run.plan.retry) continue; // a retrying fix shows the errors it absorbed
        assert.ok(
          Object.values(f.verdict.counts).every((n) => n === 0),
          `${f.run.plan.name}: ${JSON.stringify(f.verdict.counts)}`,
        );
      }
    });

    test('the transcript is identical run to run', async () => {
      const text = new TextReporter({ color: false, verbose: false });
      const render = async () => (await runBuiltin(dialect, 'ab-ba-deadlock')).map((v) => text.variant(v)).join('');
      const first = await render();
      assert.match(first, /alice waits for bob/);
      assert.equal(await render(), first);
    });

    test('a lock that is never released is reported as a hang, cancelled, and the run ends cleanly', async () => {
      const sc = scenarioFrom(`
name: stuck
title: t
story: s
timeout: 300
workers:
  a:
    - { name: hold, sql: SELECT pg_advisory_lock(42) }
  b:
    - { name: wait, sql: SELECT pg_advisory_lock(42) }
    - { name: after, sql: SELECT 1 }
expect: hang
`);
      const [plan] = planScenario(sc, { engine: 'postgres', placeholder: (n) => `$${n}` }).plans;
      const run = await runVariant(dialect, plan!);
      const wait = run.steps.find((s) => s.step === 'wait')!;
      assert.equal(wait.blocked, true);
      assert.deepEqual(wait.blockedBy, ['a']);
      assert.equal(wait.hang, true);
      assert.equal(wait.error?.code, '57014');
      assert.equal(run.steps.find((s) => s.step === 'after')!.status, 'not-run');
      assert.deepEqual(detect(run).observed, ['hang']);
    });

    test('deadlock_timeout: 10 ms for a statement sent while every other worker waits, 2 s more for each that does not', async () => {
      assert.match(dialect.info.settings.deadlock_timeout!, /^10ms \+ 2000ms/, 'this role may set deadlock_timeout');
      const sc = scenarioFrom(`
name: stagger
title: t
story: s
workers:
  a:
    - { name: lock, sql: SELECT pg_advisory_lock(1) }
    - { name: show, sql: SHOW deadlock_timeout }
    - { name: unlock, sql: SELECT pg_advisory_unlock(1) }
  b:
    - { name: lock, sql: SELECT pg_advisory_lock(1) }
    - { name: unlock, sql: SELECT pg_advisory_unlock(1) }
  c:
    - { name: lock, sql: SELECT pg_advisory_lock(1) }
    - { name: unlock, sql: SELECT pg_advisory_unlock(1) }
  d:
    - { name: show, sql: SHOW deadlock_timeout }
schedule: [a.lock, a.show, b.lock, c.lock, d.show, a.unlock, b.unlock, c.unlock]
expect: clean
`);
      const [plan] = planScenario(sc, { engine: 'postgres', placeholder: (n) => `$${n}` }).plans;
      const run = await runVariant(dialect, plan!);
      const shown = (w: string) => run.steps.find((s) => s.worker === w && s.step === 'show')!.rows[0]?.deadlock_timeout;
      // a: sent while none of the other three waits; d: while b and c wait, a does not.
      assert.equal(shown('a'), '6010ms');
      assert.equal(shown('d'), '2010ms');
    });

    test('a three-way cycle: the statement that closes it is the victim, every time', async () => {
      const sc = scenarioFrom(`
name: ring
title: t
story: s
setup:
  - CREATE TABLE r (id int PRIMARY KEY, v int)
  - INSERT INTO r VALUES (1, 0), (2, 0), (3, 0)
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: own, sql: UPDATE r SET v = 1 WHERE id = 1 }
    - { name: next, sql: UPDATE r SET v = 1 WHERE id = 2 }
    - { name: commit, sql: COMMIT }
  b:
    - { name: begin, sql: BEGIN }
    - { name: own, sql: UPDATE r SET v = 2 WHERE id = 2 }
    - { name: next, sql: UPDATE r SET v = 2 WHERE id = 3 }
    - { name: commit, sql: COMMIT }
  c:
    - { name: begin, sql: BEGIN }
    - { name: own, sql: UPDATE r SET v = 3 WHERE id = 3 }
    - { name: next, sql: UPDATE r SET v = 3 WHERE id = 1 }
    - { name: commit, sql: COMMIT }
schedule: [a.begin, b.begin, c.begin, a.own, b.own, c.own, a.next, b.next, c.next, a.commit, b.commit, c.commit]
expect: deadlock
`);
      const [plan] = planScenario(sc, { engine: 'postgres', placeholder: (n) => `$${n}` }).plans;
      for (let i = 0; i < 3; i++) {
        const run = await runVariant(dialect, plan!);
        const victims = run.steps.filter((s) => s.error?.kind === 'deadlock').map((s) => `${s.worker}.${s.step}`);
        assert.deepEqual(victims, ['c.next']);
        assert.deepEqual([...run.deadlocks[0]!.cycle].sort(), ['a', 'b', 'c']);
        assert.equal(detect(run).met, true);
      }
    });

    test('an error inside a transaction block aborts it; outside one, only the statement failed', async () => {
      const sc = scenarioFrom(`
name: aborts
title: t
story: s
setup: [CREATE TABLE u (id int PRIMARY KEY)]
workers:
  a:
    - { name: lone, sql: "INSERT INTO u VALUES (1), (1)", catch: [unique-violation] }
    - { name: none, sql: SELECT id FROM u WHERE id = 42 }
    - { name: begin, sql: BEGIN }
    - { name: dup, sql: "INSERT INTO u VALUES (2), (2)" }
expect: unique-violation
`);
      const [plan] = planScenario(sc, { engine: 'postgres', placeholder: (n) => `$${n}` }).plans;
      const run = await runVariant(dialect, plan!);
      const err = (step: string) => run.steps.find((s) => s.step === step)!.error;
      assert.deepEqual([err('lone')?.code, err('lone')?.rolledBack], ['23505', 'statement']);
      assert.deepEqual([err('dup')?.code, err('dup')?.rolledBack], ['23505', 'aborted']);
      const text = new TextReporter({ color: false, verbose: false }).variant({ mode: 'schedule', run, verdict: detect(run) });
      assert.match(text, /a {2}none {3}SELECT id FROM u WHERE id = 42 {2}→ no rows/);
      assert.match(text, /transaction aborted \(only ROLLBACK or ROLLBACK TO SAVEPOINT runs now\)/);
    });

    test('a COMMIT that fails with 40001 rolled the whole transaction back, every time', async () => {
      for (let i = 0; i < 3; i++) {
        const variants = await runBuiltin(dialect, 'write-skew');
        const v = variants.find((x) => x.run.plan.name === 'serializable-retry')!;
        const failed = v.run.steps.filter((s) => s.error?.code === '40001');
        assert.ok(failed.length >= 1);
        for (const s of failed)
          assert.equal(`${s.step}:${s.error!.rolledBack}`, s.step === 'commit' ? 'commit:transaction' : `${s.step}:aborted`);
      }
    });

    test('Ctrl-C during a long setup statement stops at once and still drops the scratch database', async () => {
      const sc = scenarioFrom(`
name: slow-setup
title: t
story: s
setup: ["SELECT pg_sleep(30) AS slow_setup"]
workers:
  a: [{ name: one, sql: SELECT 1 }]
expect: clean
`);
      const [plan] = planScenario(sc, { engine: 'postgres', placeholder: (n) => `$${n}` }).plans;
      const { spy, made } = recordingScratches(dialect);
      const ac = new AbortController();
      const started = performance.now();
      const running = runVariant(spy, plan!, { signal: ac.signal });
      running.catch(() => undefined);
      // Wait (bounded) until the setup statement really runs on the server, then interrupt.
      const probe = await dialect.createScratch('probe');
      try {
        const deadline = performance.now() + 20_000;
        for (;;) {
          const r = await probe.exec(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30) AS slow_setup%' AND state = 'active'",
          );
          if (r.rows[0]!.n === 1) break;
          assert.ok(performance.now() < deadline, 'the setup statement never started');
        }
        ac.abort();
        await assert.rejects(running, RunAborted);
        assert.ok(performance.now() - started < 15_000, 'stopped long before the 30 s statement ended');
        const left = await probe.exec('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [made[0]]);
        assert.equal(left.rows[0]!.n, 0, 'scratch database dropped');
      } finally {
        await probe.drop();
      }
    });

    test('scratch databases are dropped after every run', async () => {
      const { spy, made } = recordingScratches(dialect);
      await runBuiltin(spy, 'transfer-lost-update');
      assert.ok(made.length >= 2);
      // Only this test's own databases: anything else on a shared server is none of its business.
      const left = await scratchDatabases(dialect);
      assert.deepEqual(
        made.filter((n) => left.includes(n)),
        [],
      );
    });
  });
}
