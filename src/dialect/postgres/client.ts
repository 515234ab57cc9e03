/**
 * node-postgres connections as lockrepro opens them: values as the server's text, UTC timestamps,
 * errors classified by SQLSTATE, and any other driver error a lost connection.
 */
import pg from 'pg';
import type { QueryResult } from '../../engine/dialect.js';
import { QueryError } from '../../engine/dialect.js';
import { ConnectionLost, DatabaseUnavailableError } from '../../errors.js';
import { redactUrl, scrub } from '../../util/redact.js';
import { classifyPgError } from './errors.js';

// Values are shown as the database's own text: node-postgres would turn a date into a JavaScript
// Date at local midnight (2008-12-22 became 2008-12-21T15:00:00.000Z under TZ=Asia/Tokyo), and
// intervals, JSON, arrays and bytea into objects of its own. Only numbers and booleans are parsed;
// bigint and numeric become numbers where that loses nothing (`1.50` stays the text `1.50`).
const BOOL = 16;
const NUMBERS = new Set([21 /* int2 */, 23 /* int4 */, 26 /* oid */, 700 /* float4 */, 701 /* float8 */]);
const EXACT_NUMBERS = new Set([20 /* int8 */, 1700 /* numeric */]);
const asText = (v: string): string => v;
const types = {
  getTypeParser(oid: number) {
    if (oid === BOOL) return (v: string) => v === 't';
    if (NUMBERS.has(oid)) return Number;
    if (EXACT_NUMBERS.has(oid)) return (v: string) => (String(Number(v)) === v ? Number(v) : v);
    return asText;
  },
};

/** `extraOptions`: more `-c name=value` settings for the session, in the startup packet. */
export async function openClient(url: string, applicationName: string, extraOptions = ''): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: libpqSslModes(url),
    application_name: applicationName,
    types,
    connectionTimeoutMillis: 10_000,
    // Timestamps with time zone are shown in UTC and in ISO style whatever the server's or the
    // machine's zone, so a transcript reads the same everywhere. A scenario may SET its own.
    options: `-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres${extraOptions}`,
  });
  // A connection ended by the server (pg_terminate_backend) emits 'error'; the pending query
  // rejects as well, which is where it is handled.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    throw new DatabaseUnavailableError(`cannot connect to ${redactUrl(url)}: ${scrub(describe(e))}`);
  }
  return client;
}

/**
 * A URL with `sslmode=` read as libpq reads it (require: encrypt, without checking the
 * certificate). node-postgres otherwise takes require as verify-full and prints a 9-line warning.
 */
function libpqSslModes(url: string): string {
  if (!/[?&]sslmode=/i.test(url) || /[?&]uselibpqcompat=/i.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}uselibpqcompat=true`;
}

function describe(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return describe(e.errors[0]);
  return e instanceof Error ? e.message || e.name : String(e);
}

/**
 * One statement at a time on a client shared by runs going on at once (the dialect's own
 * connection: CREATE and DROP DATABASE for parallel lanes). node-postgres queues them too, but
 * warns that it will stop doing so (pg 9); the queue here is the same order without the warning.
 */
export function oneAtATime(client: pg.Client): pg.Client {
  let last: Promise<unknown> = Promise.resolve();
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args) => {
    const next = last.then(() => query(...args));
    last = next.catch(() => undefined);
    return next;
  };
  return client;
}

export async function run(client: pg.Client, sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
  try {
    const res = await client.query({ text: sql, values: params as unknown[] });
    // A multi-statement string gives an array of results; the last one is the answer.
    const r = (Array.isArray(res) ? res[res.length - 1] : res) as pg.QueryResult;
    return {
      rows: r.rows ?? [],
      columns: (r.fields ?? []).map((f) => f.name),
      rowCount: r.rowCount ?? null,
      command: r.command ?? null,
    };
  } catch (e) {
    const db = classifyPgError(e);
    if (db) throw new QueryError(db);
    // Not the server's answer: the connection failed under the statement.
    throw new ConnectionLost(scrub(describe(e)));
  }
}

/** The backend's pid, from the BackendKeyData the server sends at connect: what pg_backend_pid() says, without asking. */
export function backendPid(client: pg.Client): number {
  return (client as unknown as { processID: number }).processID;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
