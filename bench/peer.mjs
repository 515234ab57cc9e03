// lockrepro against PostgreSQL's own isolation tester, on the same machine and server, in one run.
// Run with `npm run bench:peer` (builds first); `node bench/peer.mjs --help` for the options.
//
// Each comparison runs both sides as whole processes (wall time from spawn to exit), alternating
// which goes first from run to run, and reports medians of --runs. Every run is checked to have
// done the work (the bug reproduced on both sides) before its time counts. Needs PostgreSQL 15
// (default postgres://postgres@127.0.0.1:5432/postgres, or --db / BENCH_PG_URL) and its
// isolationtester (from PostgreSQL 15's pgxs, found with pg_config, or --peer).
//
// The peer's tables live in a database this bench creates and drops (lockrepro_bench_peer);
// lockrepro makes its own scratch databases as always.
//
// The single-schedule comparisons have a third side, the floor (bench/floor.cjs): a bare
// node-postgres script that runs the peer's permutation in the peer's database, told which steps
// wait. No Node.js tool doing this work can take less, so floor / peer is the least ratio a
// Node.js process can reach, and lockrepro / floor is what lockrepro itself adds.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LOCKREPRO = path.join(root, 'bin/lockrepro.js');
const FLOOR = path.join(root, 'bench/floor.cjs');
const FLOOR_IS = 'a bare node-postgres script (bench/floor.cjs)';
const PEER_DB = 'lockrepro_bench_peer';

/** Exit codes, as lockrepro's own where they mean the same. */
const EXIT = { OK: 0, FAILED: 1, USAGE: 2, UNAVAILABLE: 3, INTERRUPTED: 130 };

/** The single-schedule comparisons, lockrepro with its own scratch database. */
const SINGLE = [
  {
    id: 'ab-ba',
    label: 'AB/BA deadlock, bug, one schedule',
    baseline: 'isolationtester, same permutation',
    max: 2,
    goal: 1.5,
    single: { scenario: 'ab-ba-deadlock', spec: 'abba', args: [] },
  },
  {
    id: 'lost-update',
    label: 'lost update, bug, one schedule',
    baseline: 'isolationtester, same permutation',
    max: 4,
    goal: 3,
    single: { scenario: 'transfer-lost-update', spec: 'lost', args: [] },
  },
];

/**
 * Targets from the speed issue: lockrepro's median over the baseline's. `max` must hold; `goal` is
 * where the performance work is aiming.
 */
const WORKS = [
  ...SINGLE,
  // The same with the scratch in a schema of the bench's database, as the peer's tables are
  // (--scratch schema): the comparison without CREATE and DROP DATABASE, which the peer never pays.
  ...SINGLE.map((w) => ({
    ...w,
    id: `${w.id}-schema`,
    label: `${w.label}, --scratch schema`,
    single: { ...w.single, args: ['--scratch', 'schema'] },
  })),
  { id: 'check', label: 'lockrepro check ab-ba-deadlock', baseline: 'node -e 0', max: 2, goal: null },
  { id: 'interleavings', label: 'AB/BA bug, every interleaving', baseline: 'isolationtester, no permutation line', max: 1, goal: 0.6 },
  { id: 'step', label: 'time per step (UPDATE in a transaction)', baseline: 'bare UPDATE, node-postgres', max: 3, goal: null },
];

/** Bounds on one process; a run over it is killed and the bench stops with an error. */
const PROCESS_LIMIT_MS = { single: 120_000, check: 60_000, interleavings: 20 * 60_000 };
const KILL_GRACE_MS = 10_000;
const MAX_RUNS = 50;

const USAGE = `usage: node bench/peer.mjs [options]
  --runs <n>                    runs of each comparison, median reported (default 7, at most ${MAX_RUNS})
  --only <ids>                  comma-separated subset of: ${WORKS.map((w) => w.id).join(', ')}, stress
  --db <url>                    PostgreSQL 15 (default BENCH_PG_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --peer <path>                 isolationtester (default from pg_config --pkglibdir)
  --peer-deadlock-timeouts <ms,ms>  deadlock_timeout of the spec's sessions, in worker order (default 2010,10:
                                what lockrepro sets for these schedules: 10 ms for the statement that closes
                                the cycle, +2000 ms per other worker not waiting when a statement is sent)
  --stress-runs <n>             runs per variant of the --stress done-when check (default 200; 0 skips it)
  --peer-step-timeout <s>       PGISOLATIONTIMEOUT: how long the tester waits for a step before cancelling it
                                (default 1, its smallest; the tester's own default is 300)
  --steps <n>                   UPDATE steps per per-step measurement (default 200)
  --no-floor                    leave out the floor, a bare node-postgres script run beside the single schedules
  --json                        results as one JSON object on stdout (progress stays on stderr)
  --print-specs                 print the generated isolationtester specs and exit`;

class Unavailable extends Error {}
class Failed extends Error {}
class Interrupted extends Error {}

let current = null; // the child process running now, for Ctrl-C
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
  // Ctrl-C in a terminal reaches the child too; a signal sent to this process alone is passed
  // on (lockrepro takes a repeat within a second as the same Ctrl-C and still cleans up).
  current?.kill('SIGINT');
});

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '7' },
      only: { type: 'string' },
      db: { type: 'string' },
      peer: { type: 'string' },
      'peer-deadlock-timeouts': { type: 'string', default: '2010,10' },
      'stress-runs': { type: 'string', default: '200' },
      'peer-step-timeout': { type: 'string', default: '1' },
      steps: { type: 'string', default: '200' },
      json: { type: 'boolean', default: false },
      'no-floor': { type: 'boolean', default: false },
      'print-specs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const whole = (name, min, max) => {
    const v = values[name];
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
      throw new RangeError(`--${name} must be a whole number from ${min} to ${max}`);
    return Number(v);
  };
  const ids = [...WORKS.map((w) => w.id), 'stress'];
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : ids;
  for (const id of only) if (!ids.includes(id)) throw new RangeError(`--only: unknown comparison ${id}`);
  const timeouts = values['peer-deadlock-timeouts'].split(',').map((s) => s.trim());
  if (timeouts.some((t) => !/^\d+$/.test(t) || Number(t) < 1))
    throw new RangeError('--peer-deadlock-timeouts must be whole milliseconds, comma-separated');
  const url = values.db ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!/^postgres(ql)?:\/\//.test(url)) throw new RangeError("--db must be a postgres:// URL (the isolation tester is PostgreSQL's)");
  return {
    help: values.help,
    runs: whole('runs', 1, MAX_RUNS),
    only,
    url,
    peer: values.peer ?? null,
    deadlockTimeoutsMs: timeouts.map(Number),
    stressRuns: whole('stress-runs', 0, 10_000),
    peerStepTimeoutS: whole('peer-step-timeout', 1, 300),
    steps: whole('steps', 10, 5000),
    json: values.json,
    floor: !values['no-floor'],
    printSpecs: values['print-specs'],
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const say = (line) => process.stderr.write(`${line}\n`);

/** The URL without its password, for printing. */
function shown(url) {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** Runs a process to its end; wall time from spawn to exit. Bounded by `limitMs`. */
function timed(cmd, args, { input, env, limitMs, what }) {
  if (interrupted) throw new Interrupted();
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    current = child;
    let stdout = '';
    let stderr = '';
    let overLimit = false;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.stdin.on('error', () => undefined); // a child that exits without reading its input
    child.stdin.end(input ?? '');
    // SIGINT first: lockrepro then drops its scratch databases.
    let kill;
    const limit = setTimeout(() => {
      overLimit = true;
      child.kill('SIGINT');
      kill = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    }, limitMs);
    child.on('error', (e) => {
      clearTimeout(limit);
      current = null;
      reject(new Unavailable(`${what}: cannot start ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      clearTimeout(limit);
      clearTimeout(kill);
      current = null;
      if (interrupted) return reject(new Interrupted());
      if (overLimit) return reject(new Failed(`${what}: still running after ${limitMs / 1000} s; stopped`));
      resolve({ ms, code, signal, stdout, stderr });
    });
  });
}

function lastLines(text, n = 5) {
  return text.trim().split('\n').slice(-n).join('\n    ');
}

// --- the two sides ---------------------------------------------------------------------------

async function lockrepro(args, limitMs, what) {
  // NO_COLOR (set for every child) keeps the output plain; `check` takes no --no-color.
  const r = await timed(process.execPath, [LOCKREPRO, ...args], { limitMs, what });
  // Exit 0: every expectation met, so the bug was reproduced (the runs compared did the work).
  if (r.code !== 0) throw new Failed(`${what}: lockrepro exited ${r.code ?? r.signal}:\n    ${lastLines(r.stderr || r.stdout)}`);
  return r;
}

/** The tester's output, checked: the scenario's anomaly must show, or the times compare nothing. */
async function peer(ctx, spec, what, { all = false } = {}) {
  const r = await timed(ctx.peer, [ctx.peerUrl], {
    input: spec.text,
    env: { PGISOLATIONTIMEOUT: String(ctx.peerStepTimeoutS) },
    limitMs: all ? PROCESS_LIMIT_MS.interleavings : PROCESS_LIMIT_MS.single,
    what,
  });
  if (r.code !== 0) throw new Failed(`${what}: isolationtester exited ${r.code ?? r.signal}:\n    ${lastLines(r.stderr || r.stdout)}`);
  const out = readPeerOutput(r.stdout, spec);
  if (out.permutations === 0) throw new Failed(`${what}: isolationtester ran no permutation:\n    ${lastLines(r.stdout)}`);
  // Every ordering includes some that cancel a step (see interleavings()); one schedule must not.
  if (!all && out.cancelled > 0) throw new Failed(`${what}: isolationtester cancelled a step:\n    ${lastLines(r.stdout)}`);
  // The scenario's anomaly must show (when every ordering runs: in at least one of them).
  const missing = spec.expected.filter((a) => !out.saw.has(a));
  if (missing.length > 0)
    throw new Failed(
      `${what}: isolationtester did not show ${missing.join(', ')} (check gave ${out.lastCheck ?? 'nothing'}):\n    ${lastLines(r.stdout, 12)}`,
    );
  if (ctx.floor && spec.floor) checkWaits(spec, out.waited, what);
  return { ...r, out };
}

/**
 * The floor is told which steps wait (WAITS in bench/peer-specs.mjs); the tester sees it. A step
 * shown waiting that the floor would await at once could hang it, and a step the floor defers
 * that did not wait would make it a lower bound of something else: either fails the bench. (A
 * step that ends by itself, the deadlock victim, may finish before the tester looks.)
 */
function checkWaits(spec, waited, what) {
  const { waits } = spec.floor;
  const unknown = [...waited].filter((k) => !(k in waits));
  const notSeen = Object.keys(waits).filter((k) => waits[k] !== null && !waited.has(k));
  if (unknown.length > 0 || notSeen.length > 0)
    throw new Failed(
      `${what}: the steps that wait are not those WAITS in bench/peer-specs.mjs names for ${spec.file}: isolationtester showed ${[...waited].join(', ') || 'none'} waiting`,
    );
}

/**
 * What the tester printed. It prints only an error's severity and primary message, not its
 * SQLSTATE, so a deadlock is known by the server's message; the connection asks for untranslated
 * messages (lc_messages=C) so the text is the same everywhere.
 */
function readPeerOutput(stdout, spec) {
  const count = (re) => (stdout.match(re) ?? []).length;
  const permutations = count(/^starting permutation:/gm);
  const cancelled = count(/^isolationtester: canceling step /gm);
  const deadlocks = count(/^ERROR: {2}deadlock detected$/gm);
  // `step alice.second: UPDATE ... <waiting ...>`: the tester found the step waiting for a lock.
  const waited = new Set([...stdout.matchAll(/^step (.+?): .*<waiting \.\.\.>$/gm)].map((m) => m[1]));
  // The teardown's check, printed as an aligned result set: header, dashes, one value, "(1 row)".
  const checks = [...stdout.matchAll(/^[^\n]+\n-+\n *([^\n]*?) *\n\(1 row\)$/gm)].map((m) => m[1]);
  const lastCheck = checks.at(-1) ?? null;
  const saw = anomaliesSeen(spec, deadlocks > 0, lastCheck);
  return { permutations, cancelled, deadlocks, checks: checks.length, lastCheck, saw, waited };
}

/** The anomalies a side showed: a deadlock, and the check's own anomaly when its value is not the expected one. */
function anomaliesSeen(spec, deadlock, checkValue) {
  const saw = new Set();
  if (deadlock) saw.add('deadlock');
  if (spec.check && checkValue !== null && checkValue !== spec.check.expect && spec.check.anomaly) saw.add(spec.check.anomaly);
  return saw;
}

/**
 * The floor (bench/floor.cjs) on the peer's permutation, in the peer's database with the peer's
 * connection options, checked as the peer is: the scenario's anomaly must show.
 */
async function floor(ctx, spec, what) {
  const r = await timed(process.execPath, [FLOOR, ctx.peerUrl], {
    input: JSON.stringify(spec.floor),
    limitMs: PROCESS_LIMIT_MS.single,
    what,
  });
  if (r.code !== 0) throw new Failed(`${what}: the floor exited ${r.code ?? r.signal}:\n    ${lastLines(r.stderr || r.stdout)}`);
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Failed(`${what}: the floor printed no result:\n    ${lastLines(r.stdout)}`);
  }
  const saw = anomaliesSeen(
    spec,
    out.errors.some((e) => e.code === '40P01'),
    out.check,
  );
  const missing = spec.expected.filter((a) => !saw.has(a));
  const errors = out.errors.map((e) => `${e.step} ${e.code}`).join(', ');
  if (missing.length > 0)
    throw new Failed(`${what}: the floor did not show ${missing.join(', ')} (errors ${errors || 'none'}, check gave ${out.check})`);
  return { ms: r.ms, note: `saw ${[...saw].join(', ')}${errors ? ` (${errors})` : ''}; check ${spec.check?.name ?? ''}: ${out.check}` };
}

// --- comparisons -----------------------------------------------------------------------------

/**
 * Runs `a` and `b` (and `c`, the floor, when given) `runs` times, each run starting one further
 * along the list than the last (two sides: alternating which goes first), and records their
 * times. Each side's `note` from its first run is kept for the report.
 */
async function pairs(ctx, work, a, b, c = null) {
  const run = { lockrepro: a, baseline: b, ...(c && { floor: c }) };
  const sides = Object.keys(run);
  const samples = Object.fromEntries(sides.map((side) => [side, []]));
  const notes = {};
  for (let i = 0; i < ctx.runs; i++) {
    const first = i % sides.length;
    for (const side of [...sides.slice(first), ...sides.slice(0, first)]) {
      const r = await run[side](i);
      samples[side].push(r.ms);
      if (i === 0) notes[side] = r.note;
    }
    say(`  ${work.id} ${i + 1}/${ctx.runs}: ${sides.map((side) => `${side} ${fmt(samples[side][i])}`).join(', ')}`);
  }
  return { samples, notes };
}

async function singleSchedule(ctx, work, { scenario, args }, spec) {
  const command = ['run', scenario, '--variant', 'bug', '--db', ctx.url, ...args];
  // One run of each side first, not counted: the first process after a while pays for cold
  // caches (node's modules, the server's catalog), which is not what is compared.
  await lockrepro(command, PROCESS_LIMIT_MS.single, `${work.id} warm-up`);
  await peer(ctx, spec, `${work.id} warm-up`);
  if (ctx.floor) await floor(ctx, spec, `${work.id} floor warm-up`);
  return pairs(
    ctx,
    work,
    async (i) => {
      const r = await lockrepro(command, PROCESS_LIMIT_MS.single, `${work.id} run ${i + 1}`);
      ctx.lockreproSetting ??= /deadlock_timeout ([^\n·]+)/.exec(r.stdout)?.[1]?.trim() ?? null;
      return { ms: r.ms };
    },
    async (i) => {
      const r = await peer(ctx, spec, `${work.id} run ${i + 1}`);
      return { ms: r.ms, note: `saw ${[...r.out.saw].join(', ')}; check ${spec.check?.name ?? ''}: ${r.out.lastCheck}` };
    },
    ctx.floor ? (i) => floor(ctx, spec, `${work.id} floor run ${i + 1}`) : null,
  );
}

async function check(ctx, work) {
  const args = ['check', 'ab-ba-deadlock'];
  const node = async (what) => {
    const r = await timed(process.execPath, ['-e', '0'], { limitMs: PROCESS_LIMIT_MS.check, what: `${what}: node -e 0` });
    if (r.code !== 0) throw new Failed(`${what}: node -e 0 exited ${r.code ?? r.signal}`);
    return { ms: r.ms };
  };
  await lockrepro(args, PROCESS_LIMIT_MS.check, `${work.id} warm-up`);
  await node(`${work.id} warm-up`);
  return pairs(
    ctx,
    work,
    async (i) => ({ ms: (await lockrepro(args, PROCESS_LIMIT_MS.check, `${work.id} run ${i + 1}`)).ms }),
    (i) => node(`${work.id} run ${i + 1}`),
  );
}

async function interleavings(ctx, work, spec) {
  // No warm-up: each run is long, and the comparisons before it have warmed the caches.
  return pairs(
    ctx,
    work,
    async (i) => {
      const r = await lockrepro(
        ['run', 'ab-ba-deadlock', '--variant', 'bug', '--interleavings', '--db', ctx.url],
        PROCESS_LIMIT_MS.interleavings,
        `${work.id} run ${i + 1}`,
      );
      // `all 70 interleavings run: …`, or with the reduction `70 interleavings, 20 run (50 skipped: …): …`.
      const m = /(?:all )?(\d+ interleavings(?: run|, \d+ run \([^)]*\))): ([^\n]*)/.exec(r.stdout);
      return { ms: r.ms, note: m ? `${m[1]}: ${m[2]}` : 'interleavings run: not found in the output' };
    },
    async (i) => {
      const { ms, out } = await peer(ctx, spec, `${work.id} run ${i + 1}`, { all: true });
      // Its time less the PGISOLATIONTIMEOUT it waited before each cancel: the orderings that jam
      // cost it that wait and nothing else, so this is its time for the work that ran.
      ctx.peerNetMs.push(ms - out.cancelled * ctx.peerStepTimeoutS * 1000);
      return {
        ms,
        note: `${out.permutations} permutations: ${out.deadlocks} with a deadlock, ${out.cancelled} cancelled after PGISOLATIONTIMEOUT=${ctx.peerStepTimeoutS} s (a blocked session's next step came first)`,
      };
    },
  );
}

async function perStep(ctx, work) {
  const { connectDatabase } = await import('../dist/dialect/connect.js');
  const { bareUpdateMs, lockreproStepMs } = await import('./step-overhead.mjs');
  const dialect = await connectDatabase(ctx.url);
  try {
    await lockreproStepMs(dialect, ctx.steps);
    await bareUpdateMs(ctx.peerDbUrl, ctx.steps);
    return await pairs(
      ctx,
      work,
      async () => {
        if (interrupted) throw new Interrupted();
        return { ms: await lockreproStepMs(dialect, ctx.steps) };
      },
      async () => {
        if (interrupted) throw new Interrupted();
        return { ms: await bareUpdateMs(ctx.peerDbUrl, ctx.steps) };
      },
    );
  } finally {
    await dialect.close();
  }
}

// --- set-up and report -----------------------------------------------------------------------

/**
 * The isolation tester of PostgreSQL 15: --peer if given, else where pg_config says PostgreSQL's
 * libraries are (Debian's pg_config answers for the newest installed major version, so its
 * version must be 15), else Debian's fixed path for 15 (package postgresql-client-15).
 */
function findPeer(given) {
  const executable = (file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (given) {
    if (!executable(given)) throw new Unavailable(`isolationtester not found at ${given}`);
    return { path: given, version: 'given with --peer' };
  }
  const tried = [];
  const r = spawnSync('pg_config', ['--pkglibdir', '--version'], { encoding: 'utf8' });
  if (!r.error && r.status === 0) {
    const [libdir, version] = r.stdout.trim().split('\n');
    const file = path.join(libdir, 'pgxs/src/test/isolation/isolationtester');
    if (/^PostgreSQL 15\./.test(version) && executable(file)) return { path: file, version };
    tried.push(`${file} (${version})`);
  } else {
    tried.push('pg_config (not on PATH)');
  }
  const debian = '/usr/lib/postgresql/15/lib/pgxs/src/test/isolation/isolationtester';
  if (executable(debian)) return { path: debian, version: 'PostgreSQL 15 (Debian layout)' };
  tried.push(debian);
  throw new Unavailable(
    `PostgreSQL 15's isolationtester not found; tried ${tried.join(', ')}. It ships with PostgreSQL 15 (Debian/Ubuntu: postgresql-client-15); or pass --peer <path>`,
  );
}

async function connectAdmin(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new Unavailable(`PostgreSQL 15 not reachable at ${shown(url)}: ${e.message || e.code}`);
  }
  return client;
}

function fmt(ms) {
  if (ms < 10) return `${ms.toFixed(3)} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Whether the spec's deadlock_timeouts are what lockrepro says it sets: its header reads
 * "<base>ms + <stagger>ms per other worker not waiting ...", which for these two-worker schedules
 * means base + stagger for the first waiter (sent while the other ran) and base for the closer.
 */
function timeoutsMatch(setting, ms) {
  const m = /^(\d+)ms \+ (\d+)ms per other worker not waiting/.exec(setting ?? '');
  if (!m) return null;
  const base = Number(m[1]);
  return ms[0] === base + Number(m[2]) && ms[1] === base;
}

/**
 * Issue #10's done-when for stress mode: `--stress n --json` on transfer-lost-update gives mode
 * "stress", runs n and rates for every variant, and no fix shows an anomaly. No peer does this.
 */
async function stressDoneWhen(ctx) {
  const n = ctx.stressRuns;
  say(`transfer-lost-update --stress ${n} --json`);
  const r = await lockrepro(
    ['run', 'transfer-lost-update', '--stress', String(n), '--json', '--db', ctx.url],
    PROCESS_LIMIT_MS.interleavings,
    'stress',
  );
  const doc = JSON.parse(r.stdout);
  const variants = doc.scenarios[0].variants.map((v) => ({
    name: v.name,
    mode: v.mode,
    runs: v.runs,
    rates: v.rates !== undefined,
    anomalous: v.stress?.failing ?? null,
    lostUpdates: v.rates?.lostUpdates ?? null,
  }));
  const fixes = variants.filter((v) => v.name !== 'bug');
  const met =
    variants.every((v) => v.mode === 'stress' && v.runs === n && v.rates) && fixes.every((v) => v.anomalous === 0) && variants.length > 1;
  return { runs: n, ms: r.ms, exitCode: r.code, met, variants };
}

function verdict(ratio, work) {
  if (!(ratio <= work.max)) return 'not met';
  if (work.goal === null) return 'met';
  return ratio <= work.goal ? 'met, goal met' : 'met, goal not met';
}

function targetText(work) {
  return `≤ ${work.max}×${work.goal !== null ? ` (goal ${work.goal}×)` : ''}`;
}

function printTable(report) {
  const floors = report.results.some((r) => r.floor);
  const head = [
    'work',
    'lockrepro',
    'baseline',
    'ratio',
    'target',
    'status',
    ...(floors ? ['floor', 'floor/peer', 'lockrepro/floor'] : []),
    'baseline is',
  ];
  const rows = report.results.map((r) => [
    r.label,
    fmt(r.lockrepro.medianMs),
    fmt(r.baseline.medianMs),
    `${r.ratio.toFixed(2)}×`,
    targetText(r.target),
    r.verdict,
    ...(!floors
      ? []
      : r.floor
        ? [fmt(r.floor.medianMs), `${r.floorOverPeer.toFixed(2)}×`, `${r.lockreproOverFloor.toFixed(2)}×`]
        : ['—', '—', '—']),
    r.baseline.what,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

function printReport(report) {
  console.log(`lockrepro vs PostgreSQL's isolation tester: medians of ${report.runs} runs, whole-process wall time unless noted`);
  console.log(`database: PostgreSQL ${report.database.version} at ${report.database.url}`);
  console.log(`peer:     ${report.peer.path} (${report.peer.version}), PGISOLATIONTIMEOUT=${report.peer.stepTimeoutS} s`);
  console.log(
    `deadlock_timeout in the peer's sessions: ${report.peer.deadlockTimeoutsMs.map((ms, i) => `${report.peer.sessions[i] ?? `session ${i + 1}`} ${ms} ms`).join(', ')}`,
  );
  console.log(
    `                 as lockrepro reports its own: ${report.lockreproDeadlockTimeout ?? '(not run, or not found in its output)'}`,
  );
  if (report.deadlockTimeoutsMatch === false)
    console.log('                 ⚠ these differ: pass --peer-deadlock-timeouts to match lockrepro');
  console.log(
    `machine: ${report.machine.cpus} cpus, load average ${report.machine.loadBefore.join(' ')} before, ${report.machine.loadAfter.join(' ')} after\n`,
  );
  printTable(report);
  const floored = report.results.filter((r) => r.floor);
  if (floored.length > 0) {
    console.log(
      `\nfloor: ${report.floor} running the peer's permutation in the peer's database, told which steps wait; no Node.js process doing this work takes less. A ratio target below floor/peer cannot be met by a Node.js process; lockrepro/floor is what lockrepro adds.`,
    );
    for (const r of floored) {
      const left =
        r.targetOverFloor >= 1
          ? `leaves lockrepro ${r.targetOverFloor.toFixed(2)}× the floor`
          : `is below floor/peer: no Node.js process can meet it`;
      console.log(`  ${r.id}: target ${targetText(r.target)} against floor/peer ${r.floorOverPeer.toFixed(2)}× ${left}`);
    }
  }
  console.log('');
  for (const r of report.results) {
    console.log(`${r.label}`);
    console.log(`  lockrepro ${fmt(r.lockrepro.minMs)} – ${fmt(r.lockrepro.maxMs)}${r.lockrepro.note ? `; ${r.lockrepro.note}` : ''}`);
    console.log(`  baseline  ${fmt(r.baseline.minMs)} – ${fmt(r.baseline.maxMs)}${r.baseline.note ? `; ${r.baseline.note}` : ''}`);
    if (r.floor) console.log(`  floor     ${fmt(r.floor.minMs)} – ${fmt(r.floor.maxMs)}${r.floor.note ? `; ${r.floor.note}` : ''}`);
  }
  if (report.results.some((r) => r.id === 'step'))
    console.log('\nper step: in-process, median over the steps of one run; the medians of those per run are compared');
  const st = report.stress;
  if (st) {
    console.log(
      `\ntransfer-lost-update --stress ${st.runs} --json: ${fmt(st.ms)}, exit ${st.exitCode}; done-when ${st.met ? 'met' : 'NOT met'}`,
    );
    for (const v of st.variants) {
      const lu = v.lostUpdates;
      const rate = lu
        ? `lost update in ${lu.runs} of ${v.runs} (${(100 * lu.rate).toFixed(1)}%, 95% CI ${(100 * lu.low).toFixed(1)}–${(100 * lu.high).toFixed(1)}%)`
        : 'no rates';
      console.log(`  ${v.name.padEnd(22)} mode ${v.mode}, ${rate}, runs with any anomaly: ${v.anomalous}`);
    }
  }
}

async function main() {
  let opts;
  try {
    opts = options();
  } catch (e) {
    say(`bench:peer: ${e.message}\n${USAGE}`);
    return EXIT.USAGE;
  }
  if (opts.help) {
    console.log(USAGE);
    return EXIT.OK;
  }
  if (!existsSync(path.join(root, 'dist/cli/main.js'))) {
    say('bench:peer: lockrepro is not built: run `npm run build` (npm run bench:peer does)');
    return EXIT.USAGE;
  }
  const { peerSpec } = await import('./peer-specs.mjs');
  const specOpts = { deadlockTimeoutsMs: opts.deadlockTimeoutsMs };
  const specs = {
    abba: peerSpec('ab-ba-deadlock', { ...specOpts, permutation: true }),
    lost: peerSpec('transfer-lost-update', { ...specOpts, permutation: true }),
    // Every ordering: no fixed pair of timeouts is lockrepro's (its closer changes with the
    // ordering), so the peer gets its fastest, the smallest for every session.
    all: peerSpec('ab-ba-deadlock', { deadlockTimeoutsMs: [Math.min(...opts.deadlockTimeoutsMs)], permutation: false }),
  };
  if (opts.printSpecs) {
    for (const [name, s] of Object.entries(specs)) console.log(`# --- ${name} ---\n${s.text}`);
    return EXIT.OK;
  }

  let admin;
  const ctx = { ...opts, lockreproSetting: null, peerNetMs: [] };
  try {
    const found = findPeer(opts.peer);
    ctx.peer = found.path;
    admin = await connectAdmin(opts.url);
    const num = Number((await admin.query('SHOW server_version_num')).rows[0].server_version_num);
    const version = String((await admin.query('SHOW server_version')).rows[0].server_version).split(' ')[0];
    if (Math.floor(num / 10000) !== 15) throw new Unavailable(`PostgreSQL 15 wanted at ${shown(opts.url)}; that server is ${version}`);

    // A database of the bench's own for the peer, left over only if a previous bench was killed.
    await admin.query(`DROP DATABASE IF EXISTS ${PEER_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${PEER_DB}`);
    const peerUrl = new URL(opts.url);
    peerUrl.pathname = `/${PEER_DB}`;
    ctx.peerDbUrl = peerUrl.toString();
    // The scenario's unqualified names go to the peer's schema; messages untranslated (see readPeerOutput).
    // (libpq decodes %20 but not the + that URLSearchParams writes for a space.)
    peerUrl.search = `options=${encodeURIComponent('-c search_path=peer -c lc_messages=C')}`;
    ctx.peerUrl = peerUrl.toString();

    const loadBefore = os.loadavg().map((x) => x.toFixed(2));
    const results = [];
    for (const work of WORKS.filter((w) => opts.only.includes(w.id))) {
      say(`${work.label} vs ${work.baseline}`);
      const r = work.single
        ? await singleSchedule(ctx, work, work.single, specs[work.single.spec])
        : work.id === 'check'
          ? await check(ctx, work)
          : work.id === 'interleavings'
            ? await interleavings(ctx, work, specs.all)
            : await perStep(ctx, work);
      const r3 = (x) => Math.round(x * 1000) / 1000;
      const side = (xs, note) => ({
        medianMs: r3(median(xs)),
        minMs: r3(Math.min(...xs)),
        maxMs: r3(Math.max(...xs)),
        samplesMs: xs.map(r3),
        note: note ?? null,
      });
      const lockreproSide = side(r.samples.lockrepro, r.notes.lockrepro);
      const baselineSide = { what: work.baseline, ...side(r.samples.baseline, r.notes.baseline) };
      const floorSide = r.samples.floor ? { what: FLOOR_IS, ...side(r.samples.floor, r.notes.floor) } : null;
      const r3ratio = (x, y) => Math.round((x / y) * 1000) / 1000;
      const row = (id, label, base, floorSide = null) => {
        const ratio = r3ratio(lockreproSide.medianMs, base.medianMs);
        return {
          id,
          label,
          lockrepro: lockreproSide,
          baseline: base,
          ratio,
          target: { max: work.max, goal: work.goal },
          met: ratio <= work.max,
          goalMet: work.goal === null ? null : ratio <= work.goal,
          verdict: verdict(ratio, work),
          ...(floorSide && {
            floor: floorSide,
            floorOverPeer: r3ratio(floorSide.medianMs, base.medianMs),
            lockreproOverFloor: r3ratio(lockreproSide.medianMs, floorSide.medianMs),
            // What the target leaves lockrepro over the floor; below 1 no Node.js process meets it.
            targetOverFloor: r3ratio(work.max * base.medianMs, floorSide.medianMs),
          }),
        };
      };
      results.push(row(work.id, work.label, baselineSide, floorSide));
      if (work.id === 'interleavings' && ctx.peerNetMs.length > 0) {
        // The stricter comparison: the peer without the 1 s it waits on each ordering that jams
        // (its wall time flatters lockrepro, which has no such wait).
        const net = {
          what: 'isolationtester less its cancel waits',
          ...side(ctx.peerNetMs, 'each run less cancelled × PGISOLATIONTIMEOUT'),
        };
        results.push(row('interleavings-net', `${work.label} (peer less its cancel waits)`, net));
      }
    }
    const stress = opts.stressRuns > 0 && opts.only.includes('stress') ? await stressDoneWhen(ctx) : null;
    const report = {
      bench: 'peer',
      ok: true, // every run measured did the work; whether the targets are met is allMet
      runs: opts.runs,
      database: { dialect: 'postgres', version, url: shown(opts.url) },
      peer: {
        path: found.path,
        version: found.version,
        stepTimeoutS: opts.peerStepTimeoutS,
        deadlockTimeoutsMs: specs.abba.sessions.map((_, i) => opts.deadlockTimeoutsMs[Math.min(i, opts.deadlockTimeoutsMs.length - 1)]),
        sessions: specs.abba.sessions,
      },
      floor: opts.floor ? FLOOR_IS : null,
      lockreproDeadlockTimeout: ctx.lockreproSetting,
      deadlockTimeoutsMatch: timeoutsMatch(ctx.lockreproSetting, opts.deadlockTimeoutsMs),
      machine: { cpus: os.cpus().length, loadBefore, loadAfter: os.loadavg().map((x) => x.toFixed(2)) },
      results,
      stress,
      allMet: results.every((r) => r.met) && (stress?.met ?? true),
    };
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else printReport(report);
    return EXIT.OK;
  } catch (e) {
    if (e instanceof Interrupted || interrupted) {
      say('bench:peer: interrupted');
      return EXIT.INTERRUPTED;
    }
    const code = e instanceof Unavailable ? EXIT.UNAVAILABLE : EXIT.FAILED;
    say(`bench:peer: ${e instanceof Unavailable || e instanceof Failed ? e.message : (e.stack ?? e)}`);
    if (opts.json) console.log(JSON.stringify({ bench: 'peer', ok: false, error: e.message }));
    return code;
  } finally {
    if (admin) {
      await admin
        .query(`DROP DATABASE IF EXISTS ${PEER_DB} WITH (FORCE)`)
        .catch((e) => say(`bench:peer: could not drop ${PEER_DB}: ${e.message}`));
      await admin.end().catch(() => undefined);
    }
  }
}

process.exitCode = await main();
