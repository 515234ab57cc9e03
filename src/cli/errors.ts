/**
 * What an error that reached the CLI's catch-all means for the user: which exit code, which one
 * line. Only a database that cannot be reached (or used) is exit 3; an error lockrepro has no name
 * for is its own bug, exit 4, never "database error".
 */
import { QueryError } from '../engine/dialect.js';
import { ConnectionLost, DatabaseUnavailableError } from '../errors.js';
import { scrub, scrubUrls } from '../util/redact.js';
import { EXIT, type ExitCode } from './exit-codes.js';

/** Socket and driver error codes that mean "the connection failed or was lost". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

export function isConnectionError(e: unknown): boolean {
  if (e instanceof ConnectionLost) return true;
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  // The dialects raise ConnectionLost (or flag the server's own "connection ended" errors);
  // socket errors before any dialect saw them carry a code. Never the message text.
  if (e instanceof QueryError) return e.db.connectionLost === true;
  return typeof code === 'string' && CONNECTION_CODES.has(code);
}

/**
 * An error from a run that is not one of the run's own outcomes (aborted, setup failed): the
 * database is gone or refused lockrepro's own SQL (exit 3), or lockrepro has a bug (exit 4).
 */
export function classifyRunError(e: unknown, env: NodeJS.ProcessEnv): { code: ExitCode; message: string } {
  if (e instanceof DatabaseUnavailableError) return { code: EXIT.DATABASE, message: e.message };
  if (isConnectionError(e)) {
    const msg = e instanceof QueryError ? `${e.db.code} ${e.db.message}` : (e as Error).message;
    return { code: EXIT.DATABASE, message: `database connection lost: ${firstLine(msg)}` };
  }
  // The server refused SQL lockrepro itself runs (CREATE DATABASE without the privilege, say):
  // the database cannot be used as it is, which is what exit 3 tells the user.
  if (e instanceof QueryError) return { code: EXIT.DATABASE, message: `database error: ${e.db.code} ${firstLine(e.db.message)}` };
  const server = serverCode(e);
  if (server) return { code: EXIT.DATABASE, message: `database error: ${server} ${firstLine((e as Error).message)}` };
  return { code: EXIT.INTERNAL, message: internalErrorText(e, env) };
}

/**
 * `internal error: <message> (…report it…)`, one line; with LOCKREPRO_DEBUG set, the stack follows
 * on the next lines. Secrets and URL passwords are hidden.
 */
export function internalErrorText(e: unknown, env: NodeJS.ProcessEnv): string {
  const message = e instanceof Error ? e.message || e.name : String(e);
  let text = `internal error: ${firstLine(message)} (a bug in lockrepro: please report it with the command you ran; LOCKREPRO_DEBUG=1 shows where it happened)`;
  if (env.LOCKREPRO_DEBUG && e instanceof Error && e.stack) text += `\n${e.stack}`;
  return scrubUrls(scrub(text));
}

/**
 * The server's error code of a driver error that did not pass through a dialect's classifier:
 * node-postgres gives a five-character SQLSTATE (with a `severity`), mysql2 an `errno` with a
 * `sqlState`. Socket errors and lockrepro's own have neither.
 */
function serverCode(e: unknown): string | null {
  if (!(e instanceof Error)) return null;
  const x = e as { code?: unknown; severity?: unknown; errno?: unknown; sqlState?: unknown };
  if (typeof x.code === 'string' && /^[0-9A-Z]{5}$/.test(x.code) && typeof x.severity === 'string') return x.code;
  if (typeof x.errno === 'number' && typeof x.sqlState === 'string') return String(x.errno);
  return null;
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}
