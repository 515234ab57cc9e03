// Benchmarks for the numbers the issues name. Run with `npm run bench` (builds first).
//   1. scheduler overhead per step, against a bare `SELECT 1` round trip on the same server
//   2. time from sending a blocking statement to lockrepro reporting it blocked (PG, MariaDB)
//   3. database time of the ab-ba-deadlock scenario's bug variant
//   4. wall time of `lockrepro run ab-ba-deadlock`, cold (empty cache) and warm
// Servers: embedded PostgreSQL always; BENCH_PG_URL (default the CI machine's PostgreSQL 15) and
// BENCH_MYSQL_URL (default its MariaDB) when reachable. Bounded: fixed iteration counts.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectDatabase } from '../dist/dialect/connect.js';
import { runVariant } from '../dist/engine/run.js';
import { planScenario } from '../dist/plan/plan.js';
import { checkScenario } from '../dist/scenario/check.js';
import { parseScenarioText } from '../dist/scenario/parse.js';
import { loadTargets } from '../dist/scenario/load.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const STEPS = 400;
const DETECT_TRIALS = 25;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))];
const ms = (x) => `${x.toFixed(3)} ms`;

function scenario(yaml) {
  const r = checkScenario(parseScenarioText('bench.yaml', yaml));
  if (!r.scenario) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.scenario;
}

function plan(dialect, sc) {
  const r = planScenario(sc, { engine: dialect.info.dialect, placeholder: (n) => dialect.placeholder(n) });
  if (r.problems.length) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.plans;
}

/** Per-step cost inside the scheduler vs a bare round trip of the same statement. */
async function stepOverhead(dialect) {
  const steps = Array.from({ length: STEPS }, (_, i) => `    - { name: s${i}, sql: SELECT 1 }`).join('\n');
  const [p] = plan(dialect, scenario(`name: overhead\ntitle: t\nstory: s\nworkers:\n  a:\n${steps}\nexpect: clean\n`));
  const run = await runVariant(dialect, p);
  const starts = run.steps.map((s) => s.startedMs);
  const perStep = [];
  for (let i = 1; i < starts.length; i++) perStep.push(starts[i] - starts[i - 1]);

  const scratch = await dialect.createScratch('bench');
  const session = await scratch.openSession('bare', 'read-committed');
  const bare = [];
  for (let i = 0; i < STEPS; i++) {
    const t = performance.now();
    await session.query('SELECT 1');
    bare.push(performance.now() - t);
  }
  await scratch.drop();
  return { step: median(perStep), bare: median(bare) };
}

/** From sending the blocking UPDATE to the monitor reporting the wait. */
async function detection(dialect) {
  const [p] = plan(
    dialect,
    scenario(`name: detect
title: t
story: s
setup:
  - CREATE TABLE t (id int PRIMARY KEY, v int)
  - INSERT INTO t VALUES (1, 0)
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: lock, sql: UPDATE t SET v = 1 WHERE id = 1 }
    - { name: commit, sql: COMMIT }
  b:
    - { name: begin, sql: BEGIN }
    - { name: wait, sql: UPDATE t SET v = 2 WHERE id = 1 }
    - { name: commit, sql: COMMIT }
schedule: [a.begin, b.begin, a.lock, b.wait, a.commit, b.commit]
expect: clean
`),
  );
  const lat = [];
  for (let i = 0; i < DETECT_TRIALS; i++) {
    const run = await runVariant(dialect, p);
    const w = run.steps.find((s) => s.step === 'wait');
    if (!w.blocked) throw new Error('the blocking step was not seen waiting');
    lat.push(w.waitSeenMs - w.startedMs);
  }
  return { median: median(lat), p95: p95(lat) };
}

async function deadlockTime(dialect) {
  const { scenarios } = loadTargets(['ab-ba-deadlock']);
  const [bug] = plan(dialect, scenarios[0]);
  const times = [];
  for (let i = 0; i < 5; i++) times.push((await runVariant(dialect, bug)).durationMs);
  return median(times);
}

function wallTime(env) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [path.join(root, 'bin/lockrepro.js'), 'run', 'ab-ba-deadlock'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`lockrepro exited ${r.status}: ${r.stderr}`);
  return performance.now() - t;
}

async function target(label, url) {
  let dialect;
  try {
    dialect = await connectDatabase(url);
  } catch (e) {
    console.log(`${label}: not reachable (${e.message}); skipped`);
    return;
  }
  try {
    const o = await stepOverhead(dialect);
    const d = await detection(dialect);
    const dl = await deadlockTime(dialect);
    console.log(`\n${label} (${dialect.info.dialect} ${dialect.info.version})`);
    console.log(
      `  step in the scheduler, median        ${ms(o.step)}   (bare SELECT 1 round trip ${ms(o.bare)}; overhead ${ms(o.step - o.bare)})`,
    );
    console.log(`  blocked step reported after, median  ${ms(d.median)}   (p95 ${ms(d.p95)}, ${DETECT_TRIALS} runs)`);
    console.log(`  ab-ba-deadlock bug variant, median   ${ms(dl)}   (scratch database, setup, steps, checks, drop)`);
  } finally {
    await dialect.close();
  }
}

await target('embedded PostgreSQL', undefined);
await target('PostgreSQL by URL', PG_URL);
await target('MariaDB/MySQL by URL', MYSQL_URL);

const cache = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-bench-cache-'));
// Reachable by everyone, so that as root the embedded server (run as nobody) uses this cache
// rather than the shared root fallback, and the cold run really is cold.
chmodSync(cache, 0o755);
try {
  const cold = wallTime({ XDG_CACHE_HOME: cache, NO_COLOR: '1' });
  const warm = [1, 2, 3].map(() => wallTime({ XDG_CACHE_HOME: cache, NO_COLOR: '1' }));
  console.log(`\nlockrepro run ab-ba-deadlock (embedded), wall time`);
  console.log(`  cold (empty cache)   ${ms(cold)}`);
  console.log(`  warm, median of 3    ${ms(median(warm))}`);
} finally {
  rmSync(cache, { recursive: true, force: true });
}
