/**
 * The MySQL/MariaDB server integration tests run against, and what to do when it is not there.
 *
 * URL: LOCKREPRO_TEST_MYSQL_URL, default mysql://root@127.0.0.1:3306/test (the CI server).
 * Unreachable server: with CI=true every test that needs it FAILS (a CI job must not go green by
 * skipping); elsewhere each such test is skipped with a loud message.
 *
 *   test('...', async (t) => {
 *     if (!(await requireMysql(t))) return;
 *     ...
 *   });
 */
import type { TestContext } from 'node:test';
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../src/dialect/mysql/url.js';
import { redactUrl } from '../../src/util/redact.js';

export const MYSQL_TEST_URL = process.env.LOCKREPRO_TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';

const probes = new Map<string, Promise<string | null>>();

/** null when the server answers `SELECT 1`, else why not (one line). Asked once per URL. */
export function mysqlUnreachableReason(url: string = MYSQL_TEST_URL): Promise<string | null> {
  let p = probes.get(url);
  if (!p) {
    p = (async () => {
      let conn: mysql.Connection | undefined;
      try {
        conn = await rawMysql(url, { connectTimeout: 3_000 });
        await conn.query('SELECT 1');
        return null;
      } catch (e) {
        return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim() || 'unknown error';
      } finally {
        conn?.destroy();
      }
    })();
    probes.set(url, p);
  }
  return p;
}

/**
 * true when the server is reachable. Otherwise: throws under CI=true (the test fails), or marks
 * the test skipped with a warning and returns false (the test should return at once).
 */
export async function requireMysql(t: TestContext, url: string = MYSQL_TEST_URL): Promise<boolean> {
  const reason = await mysqlUnreachableReason(url);
  if (reason === null) return true;
  const msg = `MariaDB not reachable at ${redactUrl(url)}: ${reason}`;
  if (process.env.CI === 'true') {
    throw new Error(`${msg} (CI=true, so this fails instead of being skipped; set LOCKREPRO_TEST_MYSQL_URL)`);
  }
  console.warn(`\n!!! SKIPPING "${t.name}": ${msg}\n!!! Start MariaDB/MySQL or set LOCKREPRO_TEST_MYSQL_URL to run it.\n`);
  t.skip(msg);
  return false;
}

/**
 * A plain mysql2 connection for test setup and inspection (users, SHOW DATABASES), outside the
 * dialect under test. `database` overrides the URL's.
 */
export async function rawMysql(
  url: string = MYSQL_TEST_URL,
  opts: { database?: string; connectTimeout?: number } = {},
): Promise<mysql.Connection> {
  const t = parseMysqlUrl(url);
  const conn = await mysql.createConnection({
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: opts.database ?? t.database,
    connectTimeout: opts.connectTimeout ?? 10_000,
    supportBigNumbers: true,
    decimalNumbers: true,
  });
  conn.on('error', () => undefined);
  return conn;
}

/** The same URL with other credentials (for the password tests), and optionally another database ('' = none). */
export function withCredentials(url: string, user: string, password: string, database?: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  if (database !== undefined) u.pathname = database === '' ? '' : `/${encodeURIComponent(database)}`;
  return u.toString();
}
