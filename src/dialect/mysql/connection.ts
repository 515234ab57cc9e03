/**
 * mysql2 facts in one place: how lockrepro opens a connection, runs its own fixed SQL on one, and
 * the server numbers (errnos, status flags) the other files decide by.
 */
import mysql from 'mysql2/promise';
import { DatabaseUnavailableError } from '../../errors.js';
import { scrub } from '../../util/redact.js';
import { describe } from './errors.js';
import type { MysqlTarget } from './url.js';

export type Conn = mysql.Connection;

/** SERVER_STATUS_IN_TRANS in the OK packet's status flags. */
export const SERVER_STATUS_IN_TRANS = 0x0001;

export const ER_UNSUPPORTED_PS = 1295;
export const ER_NO_SUCH_THREAD = 1094;
export const ER_SPECIFIC_ACCESS_DENIED = 1227;
export const ER_DBACCESS_DENIED = 1044;
export const ER_TABLEACCESS_DENIED = 1142;

/** Runs one statement on a lockrepro-owned connection and returns its rows. */
export type MonitorQuery = (sql: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/** Open one connection; failures become a one-line {@link DatabaseUnavailableError}. */
export async function openConnection(target: MysqlTarget, database: string | undefined): Promise<Conn> {
  let conn: Conn;
  try {
    conn = await mysql.createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database,
      // Values arrive as the server's text; values.ts does the rest (numbers where exact, 0x hex
      // for bytes). Without these mysql2 would make Dates in the client's time zone, round
      // DECIMAL and BIGINT to doubles and parse JSON.
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      dateStrings: true,
      jsonStrings: true,
      // A GEOMETRY value's bytes, not mysql2's parsed points.
      typeCast: (field, next) => (field.type === 'GEOMETRY' ? field.buffer() : next()),
      multipleStatements: false,
      connectTimeout: 10_000,
    });
  } catch (e) {
    throw new DatabaseUnavailableError(`cannot connect to ${target.display}: ${oneLine(scrub(describe(e)))}`);
  }
  // A connection ended by the server (KILL) emits 'error' when no command is waiting for it; a
  // pending command rejects as well, which is where it is handled.
  conn.on('error', () => undefined);
  return conn;
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Run fixed SQL (never a user's) on a lockrepro-owned connection and return its rows. */
export function monitorQuery(conn: Conn): MonitorQuery {
  return async (sql, params) => {
    const [rows] = params && params.length > 0 ? await conn.execute(sql, params as mysql.ExecuteValues[]) : await conn.query(sql);
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  };
}

export function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}
