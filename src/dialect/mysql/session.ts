/**
 * One connection that runs users' statements: a worker's session, or the scratch database's admin
 * connection (setup, checks, teardown).
 */
import type mysql from 'mysql2/promise';
import { QueryError, type DeadlockReport as EngineDeadlockReport, type QueryResult, type Session } from '../../engine/dialect.js';
import { ConnectionLost } from '../../errors.js';
import { settlesWithin } from '../../util/async.js';
import { scrub } from '../../util/redact.js';
import { ER_UNSUPPORTED_PS, SERVER_STATUS_IN_TRANS, type Conn } from './connection.js';
import { classifyMysqlError, describe, rolledBackFrom, type ServerBehaviour } from './errors.js';
import { serverValues } from './values.js';

/** How long a graceful close of an idle connection may take before it is destroyed. */
const CLOSE_GRACE_MS = 2_000;

function isHeader(x: unknown): x is mysql.ResultSetHeader {
  return !!x && typeof x === 'object' && !Array.isArray(x) && (x as object).constructor?.name === 'ResultSetHeader';
}

/** The statement's result; `binary`: it came by COM_STMT_EXECUTE (see values.ts). */
function toResult(res: unknown, fields: unknown, binary: boolean): QueryResult {
  if (isHeader(res)) return { rows: [], columns: [], rowCount: res.affectedRows, command: null };
  if (Array.isArray(res)) {
    // CALL of a procedure gives several results: [rows..., header]. Take the first result set.
    if (res.some((x) => Array.isArray(x) || isHeader(x))) {
      const i = res.findIndex((x) => Array.isArray(x));
      if (i < 0) {
        const last = res[res.length - 1];
        return { rows: [], columns: [], rowCount: isHeader(last) ? last.affectedRows : null, command: null };
      }
      const f = Array.isArray(fields) ? ((fields[i] as mysql.FieldPacket[] | undefined) ?? []) : [];
      const rows = serverValues(res[i] as Record<string, unknown>[], f, binary);
      return { rows, columns: f.map((x) => x.name), rowCount: rows.length, command: null };
    }
    const f = Array.isArray(fields) ? (fields as mysql.FieldPacket[]) : [];
    const rows = serverValues(res as Record<string, unknown>[], f, binary);
    return { rows, columns: f.map((x) => x.name), rowCount: rows.length, command: null };
  }
  return { rows: [], columns: [], rowCount: null, command: null };
}

/**
 * Runs users' statements on one connection: server-side binding when there are parameters, the
 * text protocol otherwise.
 */
export class Runner {
  /** The statement being run right now (for GET_LOCK names in lockWaits). */
  inflight: { sql: string; params: readonly unknown[] } | null = null;
  closed = false;
  lost = false;
  /** In a transaction, as of the last OK packet (SELECT results do not carry the flag). */
  private inTransaction = false;

  constructor(
    readonly conn: Conn,
    private readonly server: ServerBehaviour,
  ) {
    conn.on('error', () => (this.lost = true));
    conn.on('end', () => (this.lost = true));
  }

  get backendId(): number {
    return this.conn.threadId;
  }

  get running(): boolean {
    return this.current !== null;
  }

  /** The statement in progress (with the probe after an error), and a way to fail it. */
  private current: { done: Promise<void>; abort: (e: Error) => void } | null = null;

  query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    if (this.closed) return Promise.reject(new ConnectionLost('this connection was closed'));
    // Guarantee the promise settles even if the socket has to be destroyed under it (mysql2 does
    // not fail a pending command on destroy()).
    let abort!: (e: Error) => void;
    const aborted = new Promise<never>((_, reject) => (abort = reject));
    const p = Promise.race([this.run(sql, params), aborted]);
    const current = { done: p.then(noop, noop), abort };
    this.current = current;
    void current.done.then(() => {
      if (this.current === current) this.current = null;
    });
    return p;
  }

  private async run(sql: string, params: readonly unknown[]): Promise<QueryResult> {
    this.inflight = { sql, params };
    try {
      // With parameters: server-side binding (COM_STMT_EXECUTE). MariaDB 10.11 prepares every
      // statement lockrepro needs (BEGIN, COMMIT, LOCK TABLES, SET TRANSACTION, XA, CALL, ...;
      // checked) except PREPARE/EXECUTE/DEALLOCATE, which give 1295. Without parameters the text
      // protocol runs anything and saves a round trip. mysql2 caches the prepared statements.
      const [res, fields] =
        params.length > 0
          ? await this.conn.execute(sql, params.map((p) => (p === undefined ? null : p)) as mysql.ExecuteValues[])
          : await this.conn.query(sql);
      if (isHeader(res)) this.inTransaction = (res.serverStatus & SERVER_STATUS_IN_TRANS) !== 0;
      return toResult(res, fields, params.length > 0);
    } catch (e) {
      const db = classifyMysqlError(e, this.server);
      // Not the server's answer: the connection failed under the statement.
      if (!db) throw new ConnectionLost(scrub(describe(e)));
      if (db.code === String(ER_UNSUPPORTED_PS)) {
        db.message += ' (this statement cannot take bound parameters on this server)';
      }
      // Ask the server whether a transaction is still open, so rolledBack is what really happened
      // (1213 from a GET_LOCK deadlock, for one, leaves the transaction open).
      const after = await this.probeInTransaction();
      db.rolledBack = rolledBackFrom(db.rolledBack, this.inTransaction, after);
      if (after !== null) this.inTransaction = after;
      throw new QueryError(db);
    } finally {
      this.inflight = null;
    }
  }

  /** `DO 0` changes nothing and answers with an OK packet that carries SERVER_STATUS_IN_TRANS. */
  private async probeInTransaction(): Promise<boolean | null> {
    try {
      const [res] = await this.conn.query('DO 0');
      return isHeader(res) ? (res.serverStatus & SERVER_STATUS_IN_TRANS) !== 0 : null;
    } catch {
      return null;
    }
  }

  /**
   * Close: gracefully when idle (COM_QUIT; the server rolls back an open transaction), else KILL
   * the connection (a blocked statement must not keep the caller waiting) and drop the socket.
   */
  async close(kill: (id: number) => Promise<void>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const current = this.current;
    if (current === null && !this.lost) {
      const ended = this.conn.end().then(
        () => true,
        () => false,
      );
      if ((await settlesWithin([ended], CLOSE_GRACE_MS)) && (await ended)) return;
    }
    if (current !== null) {
      // KILL makes the server end the statement and close the connection, so the pending query
      // fails with "connection lost"; give it a moment to arrive before dropping the socket.
      if (!this.lost) await kill(this.backendId).catch(noop);
      await settlesWithin([current.done], CLOSE_GRACE_MS);
      current.abort(new ConnectionLost('the connection was closed while a statement was running'));
    } else if (!this.lost) {
      await kill(this.backendId).catch(noop);
    }
    this.conn.destroy();
  }
}

function noop(): void {}

export class MysqlSession implements Session {
  readonly backendId: number;

  constructor(
    readonly worker: string,
    private readonly runner: Runner,
    private readonly onClose: (s: MysqlSession) => Promise<void>,
    /** InnoDB's report of the deadlock this session just lost, in the engine's terms, if it has one. */
    private readonly deadlockReport: (victim: number) => Promise<EngineDeadlockReport | undefined> = async () => undefined,
  ) {
    this.backendId = runner.backendId;
  }

  get inflight() {
    return this.runner.inflight;
  }

  /** A statement is in progress. */
  get running(): boolean {
    return this.runner.running;
  }

  async query(sql: string, params?: readonly unknown[]): Promise<QueryResult> {
    try {
      return await this.runner.query(sql, params);
    } catch (e) {
      if (e instanceof QueryError && e.db.kind === 'deadlock')
        e.db.deadlock = await this.deadlockReport(this.backendId).catch(() => undefined);
      throw e;
    }
  }

  close(): Promise<void> {
    return this.onClose(this);
  }

  /** Used by the scratch: close, killing the connection if a statement is still running. */
  closeWith(kill: (id: number) => Promise<void>): Promise<void> {
    return this.runner.close(kill);
  }
}
