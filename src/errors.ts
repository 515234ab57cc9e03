/** Errors about the database itself, which every layer may meet (exit code 3, or 2 for a bad URL). */

/** Raised when the database cannot be reached or started (exit code 3). */
export class DatabaseUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

/** A `--db` value lockrepro cannot use: bad usage (exit 2), not an unreachable database. */
export class BadDatabaseUrl extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadDatabaseUrl';
  }
}

/**
 * The connection to the database was lost or ended under a statement (the server went away, the
 * backend was terminated, the network failed). Raised by the dialects for any driver error that
 * is not a server's answer, so nothing above them reads driver messages to tell.
 */
export class ConnectionLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionLost';
  }
}
