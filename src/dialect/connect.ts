/**
 * `--db` URL (or the embedded default) → a connected {@link Dialect}. The only place that maps a
 * URL scheme to an engine folder.
 */
import type { Dialect } from '../engine/dialect.js';
import { BadDatabaseUrl, DatabaseUnavailableError } from '../errors.js';
import { abortable } from '../util/async.js';
import { redactUrl, registerSecret } from '../util/redact.js';
import type { EmbeddedOptions, EmbeddedServer } from './postgres/embedded.js';
import { parseDbUrl } from './url.js';
import type { ScratchKind } from '../vocabulary.js';

// Engine folders are loaded on demand: a PostgreSQL run never loads mysql2, and a run with --db
// never touches the embedded server's package.

export const SUPPORTED_SCHEMES = ['postgres', 'postgresql', 'mysql', 'mariadb', 'sqlite'] as const;

export interface ConnectOptions extends EmbeddedOptions {
  /** `--scratch`: a schema is PostgreSQL's alone (a MySQL schema is a database; SQLite has a file). */
  scratch?: ScratchKind;
}

/**
 * With `opts.signal` (Ctrl-C, SIGTERM), connecting stops at once: the embedded server's start
 * stops at its next step and cleans up; a connection to a --db server is left to the process exit
 * (or closed if it completes first).
 */
export async function connectDatabase(url: string | undefined, opts: ConnectOptions = {}): Promise<Dialect> {
  const { scratch } = opts;
  if (!url) return connectEmbedded(opts);
  const parsed = parseDbUrl(url);
  if (!parsed) {
    throw new BadDatabaseUrl(
      `--db ${redactUrl(url)} is not a URL (expected e.g. postgres://user@host:5432/db or mysql://root@127.0.0.1:3306/test)`,
    );
  }
  // Know every password before anything can print it: the userinfo one (a bad %-escape in it is
  // BadDatabaseUrl here, for every engine) and libpq's password query parameters, which
  // node-postgres honours. searchParams are already decoded.
  registerSecret(parsed.password, { urlEncoded: true });
  for (const key of ['password', 'sslpassword']) for (const v of parsed.searchParams.getAll(key)) registerSecret(v);
  const scheme = parsed.protocol.replace(/:$/, '');
  const connecting = (p: Promise<Dialect>) =>
    abortable(p, opts.signal, () => {
      p.then((d) => d.close()).catch(() => undefined);
      return new DatabaseUnavailableError('interrupted while connecting');
    });
  // Only for the engines lockrepro knows; an unknown scheme gets its own message below.
  const otherEngine = scheme === 'mysql' || scheme === 'mariadb' || scheme === 'sqlite';
  if (scratch === 'schema' && otherEngine) {
    throw new BadDatabaseUrl(
      `--scratch schema is for PostgreSQL: on ${scheme === 'sqlite' ? 'SQLite the scratch is a file' : 'MySQL and MariaDB a schema is a database'} (--db ${redactUrl(url)}); leave --scratch out`,
    );
  }
  switch (scheme) {
    case 'postgres':
    case 'postgresql':
      return connecting((await import('./postgres/index.js')).connectPostgres(url, { scratch }));
    case 'mysql':
    case 'mariadb':
      return connecting((await import('./mysql/index.js')).connectMysql(url));
    case 'sqlite':
      return connecting((await import('./sqlite/index.js')).connectSqlite(url));
    default:
      throw new BadDatabaseUrl(
        `--db ${redactUrl(url)}: unsupported scheme "${scheme}:" (use ${SUPPORTED_SCHEMES.map((s) => (s === 'sqlite' ? 'sqlite:' : `${s}://`)).join(', ')})`,
      );
  }
}

async function connectEmbedded(opts: ConnectOptions): Promise<Dialect> {
  const { startEmbedded } = await import('./postgres/embedded.js');
  const { connectPostgres } = await import('./postgres/index.js');
  let server: EmbeddedServer;
  try {
    server = await startEmbedded(opts);
  } catch (e) {
    throw new DatabaseUnavailableError(`embedded PostgreSQL failed to start: ${(e as Error).message} (use --db to name a server)`);
  }
  registerSecret(server.password);
  const url = `postgres://${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${server.database}`;
  try {
    return await connectPostgres(url, { embedded: server, scratch: opts.scratch });
  } catch (e) {
    await server.stop();
    throw e;
  }
}
