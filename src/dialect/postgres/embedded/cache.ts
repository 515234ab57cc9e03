/**
 * The cache of initialised clusters, shared by every lockrepro run of this user, also concurrent
 * ones. docs/embedded.md describes it for users. Layout:
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
 *   (<cache>/code-cache/ is bin/load-bundle.js's, always in defaultCacheDir(), also when root's
 *   cluster cache is the tmpdir fallback below)
 *
 * Ownership is in the names (owners.ts). A run that finds an entry whose owner is dead takes it
 * over by renaming it to its own name (atomic again: one taker), stops the postgres still running
 * in it and puts the cluster back or deletes the copy.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Binaries } from './binaries.js';
import { EmbeddedStartError, fileProblem } from './errors.js';
import { copyTree, mkdirs } from './files.js';
import { abandoned, ownedName } from '../../../util/owners.js';
import { NOBODY, ProgramFailed, runProgram, serverEnv, stopOrphan, SUPERUSER, type RunAs } from './server.js';

type Log = (line: string) => void;

/** `$XDG_CACHE_HOME/lockrepro`, or `~/.cache/lockrepro` (XDG says to ignore a relative value). */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg?.startsWith('/') ? xdg : join(os.homedir(), '.cache'), 'lockrepro');
}

/** The cache folder to use, created if need be and cleared of what killed runs left half-made. */
export async function openCache(wanted: string, runAs: RunAs, log: Log): Promise<string> {
  const cache = await cacheRoot(wanted, 'uid' in runAs, log);
  await sweep(cache, (name) => name.includes('.tmp-'), log);
  return cache;
}

/**
 * As root, the server runs as nobody and must be able to traverse every directory above its data:
 * the default ~/.cache/lockrepro under /root (0700) is not, and we never chmod directories we did
 * not create. Then we use <tmpdir>/lockrepro-<uid> instead, created 0711 and checked to be ours,
 * because /tmp is shared with other users.
 */
async function cacheRoot(wanted: string, asRoot: boolean, log: Log): Promise<string> {
  if (!asRoot || (await othersCanEnter(wanted))) {
    await mkdirs(wanted, asRoot ? 0o711 : 0o700).catch((e) => {
      throw fileProblem('cannot create the cache folder', wanted, e);
    });
    return wanted;
  }
  const fallback = join(os.tmpdir(), `lockrepro-${process.getuid?.()}`);
  if (!(await othersCanEnter(fallback))) {
    throw new EmbeddedStartError(
      `running as root, PostgreSQL runs as uid ${NOBODY}, which can reach neither ${wanted} nor ${fallback}; set XDG_CACHE_HOME to a directory it can traverse, or use --db`,
    );
  }
  await mkdirs(fallback, 0o711).catch((e) => {
    throw fileProblem('cannot create the cache folder', fallback, e);
  });
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

// ---------------------------------------------------------------------------------------------
// The initialised cluster

export interface ClusterCache {
  /** <cache>/pg-<version>-<platform>-<arch> */
  pgDir: string;
  password: string;
}

/** The cluster cache for this version, initialised by this run if it is the first. */
export async function openClusterCache(
  cache: string,
  bins: Binaries,
  runAs: RunAs,
  version: string,
  log: Log,
  signal?: AbortSignal,
): Promise<ClusterCache> {
  const pgDir = join(cache, `pg-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(pgDir)) await initCluster(cache, pgDir, bins, runAs, version, log, signal);
  const password = (
    await readFile(join(pgDir, 'password'), 'utf8').catch(() => {
      throw new EmbeddedStartError(`${pgDir} has no password file; delete that folder to start afresh`);
    })
  ).trim();
  await sweep(join(pgDir, 'runs'), (name) => name.startsWith('cluster-') || name.startsWith('copy-'), log, pgDir);
  return { pgDir, password };
}

async function initCluster(
  cache: string,
  pgDir: string,
  bins: Binaries,
  runAs: RunAs,
  version: string,
  log: Log,
  signal?: AbortSignal,
): Promise<void> {
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
    await runProgram(
      bins.initdb,
      // builtin C.UTF-8 is the same locale lab-notes used (C.UTF-8) without needing it installed in
      // the OS (macOS has none); the OS locale stays C, which exists everywhere.
      [
        '-D',
        template,
        '-U',
        SUPERUSER,
        '--auth=scram-sha-256',
        `--pwfile=${pwfile}`,
        '--no-instructions',
        '-E',
        'UTF8',
        '--locale=C',
        '--locale-provider=builtin',
        '--builtin-locale=C.UTF-8',
      ],
      { cwd: tmp, env: serverEnv(), signal, ...runAs },
    );
    await rm(pwfile);
    await writeFile(join(tmp, 'password'), password, { mode: 0o600 });
    // The reusable cluster is part of what appears atomically: concurrent first runs then agree
    // on who holds it (the one whose claim succeeds) instead of each making its own.
    await copyTree(template, join(tmp, 'cluster'), { signal });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (signal?.aborted) throw e; // interrupted: nothing is wrong with the cache
    // initdb's own reason (e.g. the bootstrap's FATAL: "No space left on device"); for our own
    // file operations, the errno. The folder named is the cache: the .tmp one is gone.
    if (e instanceof ProgramFailed) throw new EmbeddedStartError(`initdb failed in ${cache}: ${e.message.replace(/^initdb: /, '')}`);
    throw fileProblem('cannot set up the PostgreSQL cluster in', cache, e);
  }
  // The cluster exists for later runs only once complete. If a concurrent first run won, use its.
  if (
    !(await rename(tmp, pgDir).then(
      () => true,
      () => false,
    ))
  ) {
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(pgDir)) throw new EmbeddedStartError(`could not create ${pgDir}`);
  }
  log(`initialised PostgreSQL ${version} in ${Math.round(performance.now() - t)} ms (${pgDir}); later runs reuse it`);
}

// ---------------------------------------------------------------------------------------------
// One run's data directory

export interface DataDir {
  /** `cluster`: the cached cluster, held by this run; `copy`: a fresh copy of the template. */
  kind: 'cluster' | 'copy';
  dataDir: string;
}

/** The cached cluster if no other run holds it, else a copy of the template. */
export async function acquireDataDir(pgDir: string, log: Log, signal?: AbortSignal): Promise<DataDir> {
  const runs = join(pgDir, 'runs');
  const claimed = join(runs, ownedName('cluster'));
  try {
    await rename(join(pgDir, 'cluster'), claimed);
    await stopOrphan(claimed, log); // normally nothing to do; removes a stale postmaster.pid
    return { kind: 'cluster', dataDir: claimed };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileProblem('cannot use the cached cluster in', pgDir, e);
  }
  // Another live run holds the cluster, or it was lost (deleted after it failed to start): copy
  // the template. With no cluster anywhere, this copy becomes the cluster when we stop.
  const held = (await readdir(runs)).some((n) => n.startsWith('cluster-'));
  const t = performance.now();
  const copy = join(runs, ownedName('copy'));
  await copyTemplate(pgDir, copy, signal);
  log(
    `copied the cluster template in ${Math.round(performance.now() - t)} ms (${held ? 'the cached cluster is in use by another run' : 'remaking the cached cluster, which was lost'})`,
  );
  if (held) return { kind: 'copy', dataDir: copy };
  await rename(copy, claimed); // named copy- until complete, so a killed copy is deleted, not kept
  return { kind: 'cluster', dataDir: claimed };
}

/** Replaces a held cluster that would not work with a fresh copy of the template. */
export async function rebuildDataDir(pgDir: string, held: DataDir, signal?: AbortSignal): Promise<void> {
  await rm(held.dataDir, { recursive: true, force: true });
  await copyTemplate(pgDir, held.dataDir, signal);
}

/** At stop: puts the cluster back for the next run, or deletes the copy. */
export async function releaseDataDir(pgDir: string, held: DataDir): Promise<void> {
  // If another cluster appeared meanwhile (a run that found none made one), drop ours.
  if (
    held.kind === 'cluster' &&
    (await rename(held.dataDir, join(pgDir, 'cluster')).then(
      () => true,
      () => false,
    ))
  )
    return;
  await rm(held.dataDir, { recursive: true, force: true });
}

/** After a failed start. Deleting a broken cluster is safe: the next run copies the template. */
export async function discardDataDir(held: DataDir): Promise<void> {
  await rm(held.dataDir, { recursive: true, force: true });
}

/** Copies template/ (owner nobody when root, mode 0700 kept); a partial copy is removed at once. */
async function copyTemplate(pgDir: string, to: string, signal?: AbortSignal): Promise<void> {
  try {
    await copyTree(join(pgDir, 'template'), to, { signal });
  } catch (e) {
    await rm(to, { recursive: true, force: true });
    if (signal?.aborted) throw e; // interrupted: not a file problem
    throw fileProblem('cannot copy the cluster template into', dirname(to), e);
  }
}

// ---------------------------------------------------------------------------------------------
// What killed runs left

/**
 * Removes entries of `dir` whose owner process is dead. With `pgDir` they are data directories:
 * stop the postgres left running in each, and put a `cluster-` one back as pgDir/cluster.
 */
async function sweep(dir: string, mine: (name: string) => boolean, log: Log, pgDir?: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [])) {
    const prefix = mine(name) ? abandoned(name) : null;
    if (prefix === null) continue;
    const taken = join(dir, ownedName(prefix));
    // Only one run gets to clean up each entry: the one whose rename succeeds.
    if (
      !(await rename(join(dir, name), taken).then(
        () => true,
        () => false,
      ))
    )
      continue;
    log(`cleaning up ${name}, left by a run that did not stop cleanly`);
    if (pgDir) {
      await stopOrphan(taken, log);
      if (
        prefix === 'cluster' &&
        (await rename(taken, join(pgDir, 'cluster')).then(
          () => true,
          () => false,
        ))
      )
        continue;
    }
    // An initdb orphaned by a killed first run may still be writing here; retry, and if it still
    // fails, leave it: it carries our name now, so a later run removes it once we have exited.
    await rm(taken, { recursive: true, force: true, maxRetries: 5 }).catch((e) =>
      log(`could not remove ${taken}: ${(e as Error).message}`),
    );
  }
}
