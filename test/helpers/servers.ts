/**
 * Which real servers the integration tests can use. Outside CI a missing server skips its tests,
 * loudly; with CI=true a missing server fails them (CI's machine has both servers).
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { redactUrl, scrubUrls } from '../../src/util/redact.js';
import { MYSQL_TEST_URL, mysqlUnreachableReason } from './mysql.js';

export const PG_URL = process.env.LOCKREPRO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export { MYSQL_TEST_URL as MYSQL_URL };

export interface Gate {
  /** For node:test's `skip` option: false, or why the tests are skipped. */
  skip: string | false;
  /** Call at the start of each test: fails it under CI when the server is missing. */
  require(): void;
}

export function gate(what: string, error: string | null): Gate {
  if (error === null) return { skip: false, require: () => undefined };
  const message = `${what} not reachable: ${error}`;
  if (process.env.CI === 'true') {
    return {
      skip: false,
      require: () => {
        throw new Error(`${message} (CI=true: the CI machine must provide it)`);
      },
    };
  }
  console.warn(`\n!!! SKIPPING ${what} tests: ${message}. They run (and must pass) under CI=true.\n`);
  return { skip: `SKIPPED: ${message}`, require: () => undefined };
}

/** null when the PostgreSQL server answers `SELECT 1`, else why not (without the password). */
export async function pgUnreachableReason(url = PG_URL): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (e) {
    return scrubUrls((e as Error).message || String(e));
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function pgGate(url = PG_URL): Promise<Gate> {
  return gate(`PostgreSQL at ${redactUrl(url)}`, await pgUnreachableReason(url));
}

export async function mysqlGate(url = MYSQL_TEST_URL): Promise<Gate> {
  const reason = await mysqlUnreachableReason(url);
  return gate(`MariaDB/MySQL at ${redactUrl(url)}`, reason === null ? null : scrubUrls(reason));
}

/**
 * null when better-sqlite3 loads, else why not. It is an optional dependency (a native module:
 * `npm install` goes on without it where it cannot be built), so outside CI its tests skip loudly.
 */
export function sqliteUnreachableReason(): string | null {
  try {
    createRequire(import.meta.url)('better-sqlite3');
    return null;
  } catch (e) {
    return `the better-sqlite3 module did not load (${((e as Error).message || String(e)).split('\n')[0]})`;
  }
}

export function sqliteGate(): Gate {
  return gate('SQLite', sqliteUnreachableReason());
}
