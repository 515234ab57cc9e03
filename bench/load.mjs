// Load test for the promise "the same text every run": `npm run bench:load` (builds first), or
//   node --import tsx bench/load.mjs [--runs N] [--busy K] [--target embedded|postgres|postgres-schema|mariadb]...
//                                    [--save <folder>]   (every run's stdout, as <target>-<run>.txt)
// runs N times (default 50), one CLI process at a time,
//   lockrepro run ab-ba-deadlock transfer-deadlock select-for-update-order table-lock-deadlock
//                 bootstrap-lock-order --variant bug --no-color
// beside K busy-loop child processes (default 6) that keep every core busy, as on a CI runner or
// a workshop laptop. For each target it counts the distinct transcripts, and per scenario the
// distinct texts and each deadlock's victim, prints them as tables, and where a target printed
// more than one transcript, a diff of the two most common texts of each scenario that differed.
// Exit 1 when a target printed more than one transcript, or a run did not exit 0.
// Targets: embedded PostgreSQL; BENCH_PG_URL (default the CI machine's PostgreSQL 15) and
// BENCH_MYSQL_URL (default its MariaDB) when reachable, as in bench/run.mjs.
// Bounded: each run is interrupted after RUN_TIMEOUT_MS; each busy loop ends by itself when its
// target's last run could have ended, or when this process is gone, and is killed when the target
// is done (also on Ctrl-C). tsx is needed only to share the diff with the tests.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectDatabase } from '../dist/dialect/connect.js';
import { redactUrl } from '../dist/util/redact.js';
import { unifiedDiff } from '../test/helpers/diff.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const SCENARIOS = ['ab-ba-deadlock', 'transfer-deadlock', 'select-for-update-order', 'table-lock-deadlock', 'bootstrap-lock-order'];
const RUN_TIMEOUT_MS = 120_000;
const TARGETS = [
  { name: 'embedded', url: undefined },
  { name: 'postgres', url: PG_URL },
  // The same server, each run's scratch a schema in the URL's database (--scratch schema).
  { name: 'postgres-schema', url: PG_URL, args: ['--scratch', 'schema'] },
  { name: 'mariadb', url: MYSQL_URL },
];

function options(argv) {
  const o = { runs: 50, busy: 6, targets: [], save: undefined };
  const count = (flag, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${flag} takes a whole number ≥ ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.runs = count(a, argv[++i], 1);
    else if (a === '--busy') o.busy = count(a, argv[++i], 0);
    else if (a === '--save') o.save = argv[++i] || usage('--save takes a folder');
    else if (a === '--target') {
      const t = argv[++i];
      if (!TARGETS.some((x) => x.name === t)) usage(`--target is one of ${TARGETS.map((x) => x.name).join(', ')}`);
      o.targets.push(t);
    } else usage(`unknown argument ${a}`);
  }
  return o;
}

function usage(message) {
  console.error(
    `bench/load.mjs: ${message}\nusage: npm run bench:load -- [--runs N] [--busy K] [--target embedded|postgres|postgres-schema|mariadb]... [--save <folder>]`,
  );
  process.exit(2);
}

// ── busy loops ──────────────────────────────────────────────────────────────────────────────
const busy = new Set();

/** k processes spinning on a core each, until `ms` have passed or their parent is gone. */
function startBusy(k, ms) {
  const code = `const end = Date.now() + ${ms}; const parent = process.ppid;
for (let n = 1; Date.now() < end; n++) if (n % 1e6 === 0 && process.ppid !== parent) break;`;
  for (let i = 0; i < k; i++) {
    const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
    busy.add(child);
    child.on('exit', () => busy.delete(child));
  }
}

function stopBusy() {
  for (const child of busy) child.kill('SIGKILL');
  busy.clear();
}

let current = null;
process.on('exit', stopBusy);
process.on('SIGINT', () => {
  stopBusy();
  // The lockrepro run gets the same Ctrl-C from the terminal: let it drop its scratch database.
  if (current) current.on('close', () => process.exit(130));
  else process.exit(130);
});

// ── one run ─────────────────────────────────────────────────────────────────────────────────
function runOnce(url, more = []) {
  const args = [
    path.join(root, 'bin/lockrepro.js'),
    'run',
    ...SCENARIOS,
    '--variant',
    'bug',
    '--no-color',
    ...(url ? ['--db', url] : []),
    ...more,
  ];
  return new Promise((resolve) => {
    const t0 = performance.now();
    // SIGINT on timeout, so lockrepro still drops its scratch database.
    const child = spawn(process.execPath, args, {
      env: { ...process.env, LOCKREPRO_DB: '' },
      timeout: RUN_TIMEOUT_MS,
      killSignal: 'SIGINT',
    });
    current = child;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => {
      current = null;
      resolve({ code: code ?? signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/**
 * The transcript in parts, so that a difference can be told by scenario: `header` (the database
 * line), one part per scenario (from its ━━ line), `summary` (the table at the end).
 */
function parts(transcript) {
  const out = new Map([['header', []]]);
  let key = 'header';
  for (const line of transcript.split('\n')) {
    const head = /^━━ (\S+) · /.exec(line);
    if (head) key = head[1];
    else if (line.startsWith('┌')) key = 'summary';
    if (!out.has(key)) out.set(key, []);
    out.get(key).push(line);
  }
  return new Map([...out].map(([k, lines]) => [k, `${lines.join('\n')}\n`]));
}

/** Who the deadlock victims were in one scenario's part ('none' when there was none). */
function victimsOf(part) {
  const names = [...part.matchAll(/; (\S+) is the deadlock victim/g)].map((m) => m[1]);
  return names.length ? names.join('+') : 'none';
}

/** Count `key` for run `run` in a Map of key → run numbers. */
function tally(map, key, run) {
  if (!map.has(key)) map.set(key, []);
  map.get(key).push(run);
}

/** Most frequent first. */
const byCount = (map) => [...map].sort((a, b) => b[1].length - a[1].length);

// ── a target ────────────────────────────────────────────────────────────────────────────────
async function unreachable(url) {
  if (url === undefined) return null;
  try {
    const d = await connectDatabase(url);
    await d.close();
    return null;
  } catch (e) {
    return String(e.message ?? e).split('\n')[0];
  }
}

async function runTarget(target, o) {
  // transcripts: whole text → runs; parts: part name → (its text → runs); victims: scenario → (victim → runs)
  const result = {
    name: target.name,
    server: '?',
    runs: [],
    transcripts: new Map(),
    parts: new Map(),
    victims: new Map(),
    codes: new Map(),
    load: 0,
  };
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  startBusy(o.busy, o.runs * RUN_TIMEOUT_MS);
  process.stdout.write(`${target.name.padEnd(15)} `);
  try {
    for (let run = 1; run <= o.runs; run++) {
      const r = await runOnce(target.url, target.args);
      result.runs.push(r);
      tally(result.codes, r.code, run);
      tally(result.transcripts, r.stdout, run);
      if (o.save) writeFileSync(path.join(o.save, `${target.name}-${String(run).padStart(3, '0')}.txt`), r.stdout);
      for (const [name, text] of parts(r.stdout)) {
        if (!result.parts.has(name)) result.parts.set(name, new Map());
        tally(result.parts.get(name), text, run);
        if (SCENARIOS.includes(name)) {
          if (!result.victims.has(name)) result.victims.set(name, new Map());
          tally(result.victims.get(name), victimsOf(text), run);
        }
      }
      // One letter per run: the same letter, the same transcript.
      const letter = letters[[...result.transcripts.keys()].indexOf(r.stdout)] ?? '#';
      process.stdout.write(r.code === 0 ? letter : `${letter}!`);
      if (r.code !== 0 && r.stderr) result.lastError = r.stderr.trim().split('\n').slice(-1)[0];
    }
    result.load = os.loadavg()[0];
  } finally {
    stopBusy();
    process.stdout.write('\n');
  }
  const first = result.runs.find((r) => r.stdout)?.stdout ?? '';
  result.server = /^database: (\S+ \S+)/.exec(first)?.[1] ?? '?';
  return result;
}

// ── report ──────────────────────────────────────────────────────────────────────────────────
const o = options(process.argv.slice(2));
if (o.save) mkdirSync(o.save, { recursive: true });
const chosen = TARGETS.filter((t) => o.targets.length === 0 || o.targets.includes(t.name));
console.log(`lockrepro run ${SCENARIOS.join(' ')} --variant bug --no-color`);
console.log(
  `${o.runs} runs per target, one at a time, beside ${o.busy} busy loop${o.busy === 1 ? '' : 's'} on ${os.availableParallelism()} CPUs; one letter per run, the same letter the same transcript, ! a non-zero exit\n`,
);

const results = [];
const skipped = [];
for (const target of chosen) {
  const why = await unreachable(target.url);
  if (why !== null) {
    console.log(`${target.name.padEnd(15)} SKIPPED: ${redactUrl(target.url)} not reachable: ${why}`);
    skipped.push(target.name);
    continue;
  }
  results.push(await runTarget(target, o));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
const row = (cells, widths) =>
  cells
    .map((c, i) => String(c).padEnd(widths[i]))
    .join('  ')
    .trimEnd();

if (results.length > 0) {
  const widths = [15, 18, 5, 9, 14, 22, 8];
  console.log(`\n${row(['target', 'server', 'runs', 'distinct', 'exit codes', 'wall median / max', 'load 1m'], widths)}`);
  for (const r of results) {
    const codes = byCount(r.codes)
      .map(([c, runs]) => `${c}×${runs.length}`)
      .join(' ');
    const wall = r.runs.map((x) => x.ms);
    console.log(
      row(
        [
          r.name,
          r.server,
          r.runs.length,
          r.transcripts.size,
          codes,
          `${secs(median(wall))} / ${secs(Math.max(...wall))}`,
          r.load.toFixed(1),
        ],
        widths,
      ),
    );
  }

  // Per scenario: how many different texts its part had, and who the victims were.
  const vw = [24, ...results.map(() => 30)];
  console.log(`\nper scenario: distinct texts; deadlock victim × runs\n${row(['scenario', ...results.map((r) => r.name)], vw)}`);
  const names = ['header', ...SCENARIOS, 'summary'];
  for (const s of names) {
    const texts = results.map((r) => r.parts.get(s)?.size ?? 0);
    if (!SCENARIOS.includes(s) && texts.every((n) => n <= 1)) continue;
    const cell = (r) => {
      const victims = byCount(r.victims.get(s) ?? new Map())
        .map(([v, runs]) => `${v}×${runs.length}`)
        .join(' ');
      return `${r.parts.get(s)?.size ?? 0}${victims ? `; ${victims}` : ''}`;
    };
    console.log(row([s, ...results.map(cell)], vw));
  }
}

const runList = (runs) => `run${runs.length > 1 ? 's' : ''} ${runs.slice(0, 8).join(', ')}${runs.length > 8 ? ', …' : ''}`;
for (const r of results) {
  if (r.lastError) console.log(`\n${r.name}: a run exited non-zero; its last stderr line: ${r.lastError}`);
  if (r.transcripts.size < 2) continue;
  console.log(
    `\n${r.name}: ${r.transcripts.size} distinct transcripts in ${r.runs.length} runs. Where they differ, the two most common texts of each part:`,
  );
  for (const [name, texts] of r.parts) {
    if (texts.size < 2) continue;
    const [[a, aRuns], [b, bRuns]] = byCount(texts);
    const label = (k, runs) => `${r.name} · ${name} · text ${k}, ${runs.length} of ${r.runs.length} runs (${runList(runs)})`;
    process.stdout.write(`\n${unifiedDiff(a, b, { expected: label(1, aRuns), actual: label(2, bRuns) })}`);
  }
}

if (skipped.length > 0) console.log(`\nSKIPPED (not reachable): ${skipped.join(', ')}`);
const unstable = results.filter((r) => r.transcripts.size > 1).map((r) => r.name);
const failedRuns = results.filter((r) => [...r.codes.keys()].some((c) => c !== 0)).map((r) => r.name);
if (unstable.length > 0) console.log(`\nNOT THE SAME TEXT EVERY RUN on: ${unstable.join(', ')}`);
if (failedRuns.length > 0) console.log(`a run exited non-zero on: ${failedRuns.join(', ')}`);
process.exitCode = unstable.length > 0 || failedRuns.length > 0 || skipped.some((t) => o.targets.includes(t)) ? 1 : 0;
