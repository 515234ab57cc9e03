/**
 * `mysql://` and `mariadb://` URLs → mysql2 connection options. mysql2 only understands `mysql:`
 * URIs (and would not decode every part the same way), so the URL is taken apart here.
 */
import { BadDatabaseUrl } from '../../errors.js';
import { userInfo } from 'node:os';
import { redactUrl, registerSecret } from '../../util/redact.js';

export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  /** The database named in the URL, if any (lockrepro itself works in scratch databases). */
  database: string | undefined;
  /** The URL with its password hidden, for messages. */
  display: string;
}

export const DEFAULT_PORT = 3306;

/**
 * Parse a `mysql://user:password@host:port/database` URL. The password is registered as a secret
 * (so {@link scrub} hides it everywhere) before anything else can print it.
 */
export function parseMysqlUrl(url: string): MysqlTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new BadDatabaseUrl(`--db ${redactUrl(url)} is not a valid URL`);
  }
  registerSecret(u.password);
  const password = u.password ? decode(u.password) : undefined;
  registerSecret(password);
  const display = redactUrl(url);
  if (password === null) throw new BadDatabaseUrl(`--db ${display}: bad %-escape in the password`);
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new BadDatabaseUrl(`--db ${display}: not a mysql:// or mariadb:// URL`);
  }
  // URL parameters (ssl=..., charset=...) are not supported yet; ignoring them silently could
  // connect without TLS when the user asked for it, so refuse.
  const params = [...u.searchParams.keys()];
  if (params.length > 0) {
    throw new BadDatabaseUrl(`--db ${display}: URL parameters are not supported (${params.join(', ')})`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = u.port ? Number(u.port) : DEFAULT_PORT;
  const path = decode(u.pathname.replace(/^\//, ''));
  const user = decode(u.username);
  if (path === null || user === null) throw new BadDatabaseUrl(`--db ${display}: bad %-escape in the URL`);
  return {
    host,
    port,
    // Like the mysql/mariadb command-line clients: no user in the URL means the OS login name.
    user: user || osUser(),
    password,
    database: path === '' ? undefined : path,
    display,
  };
}

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'root';
  }
}
