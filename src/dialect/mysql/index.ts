/**
 * The MySQL / MariaDB dialect, on mysql2.
 *
 * Tested against MariaDB 10.11 (the CI server). MySQL 8 cannot run on the development machine: its
 * paths (performance_schema lock views, errno 3572 / 3024 / 3058, `MySQL thread id` in the status
 * text) follow the MySQL 8.0 manual and are UNTESTED.
 *
 * Connections: one control connection per server (identification, CREATE DATABASE); per scratch
 * database an admin connection inside it (setup and checks), a monitor connection (lock waits,
 * KILL, DROP DATABASE) and one connection per worker.
 */
import mysql from 'mysql2/promise';
import { randomBytes } from 'node:crypto';
import {
  DatabaseUnavailableError,
  QueryError,
  type DatabaseInfo,
  type Dialect,
  ISOLATION_SQL,
  type IsolationLevel,
  type QueryResult,
  type Scratch,
  type Session,
} from '../../engine/dialect.js';
import { scrub } from '../../util/redact.js';
import { classifyMysqlError, describe, rolledBackFrom, serverErrno, type ServerBehaviour } from './errors.js';
import {
  InformationSchemaClock,
  InnodbStatusLockWaits,
  PerformanceSchemaLockWaits,
  type LockWaitSource,
  type MonitorQuery,
} from './lock-waits.js';
import { parseMysqlUrl, type MysqlTarget } from './url.js';

/**
 * innodb_lock_wait_timeout and lock_wait_timeout (metadata locks; server default one day) for
 * worker sessions, in seconds. Generous on purpose: the engine has its own per-step hang timeout
 * and cancels with KILL QUERY; this only makes the outcome of a real hang the same on every server.
 * A scenario may lower it with its own `SET SESSION innodb_lock_wait_timeout = ...` step.
 */
const SESSION_LOCK_WAIT_TIMEOUT = 50;

/** lock_wait_timeout of the monitor, which runs DROP DATABASE after killing the workers. */
const MONITOR_LOCK_WAIT_TIMEOUT = 30;

/** How long a graceful close of an idle connection may take before it is destroyed. */
const CLOSE_GRACE_MS = 2_000;

/** SERVER_STATUS_IN_TRANS in the OK packet's status flags. */
const SERVER_STATUS_IN_TRANS = 0x0001;

const ER_UNSUPPORTED_PS = 1295;
const ER_NO_SUCH_THREAD = 1094;
const ER_SPECIFIC_ACCESS_DENIED = 1227;
const ER_DBACCESS_DENIED = 1044;
const ER_TABLEACCESS_DENIED = 1142;

type Conn = mysql.Connection;

export async function connectMysql(url: string): Promise<Dialect> {
  const target = parseMysqlUrl(url); // registers the password as a secret
  const ctl = await openConnection(target, target.database);
  try {
    const q = monitorQuery(ctl);
    const rawVersion = String((await q('SELECT VERSION() AS v'))[0]?.v ?? '');
    const isMariadb = /mariadb/i.test(rawVersion);
    const version = /^(?:5\.5\.5-)?(\d+(?:\.\d+)*)/.exec(rawVersion)?.[1] ?? rawVersion;
    const vars = new Map<string, string>();
    for (const r of await q(
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('innodb_deadlock_detect', 'innodb_rollback_on_timeout',
        'innodb_snapshot_isolation', 'max_statement_time', 'max_execution_time', 'performance_schema')`,
    )) {
      vars.set(String(r.Variable_name), String(r.Value));
    }

    const settings: Record<string, string> = {
      innodb_lock_wait_timeout: `${SESSION_LOCK_WAIT_TIMEOUT} (set by lockrepro per session)`,
      lock_wait_timeout: `${SESSION_LOCK_WAIT_TIMEOUT} (set by lockrepro per session)`,
    };
    for (const name of ['innodb_deadlock_detect', 'innodb_rollback_on_timeout', 'innodb_snapshot_isolation']) {
      const v = vars.get(name);
      if (v !== undefined) settings[name] = v; // absent on servers that do not have it
    }
    for (const name of ['max_statement_time', 'max_execution_time']) {
      const v = vars.get(name);
      if (v !== undefined && Number(v) !== 0) settings[name] = v;
    }
    const behaviour: ServerBehaviour = { rollbackOnTimeout: vars.get('innodb_rollback_on_timeout') === 'ON' };

    const lockWaits = await chooseLockWaitMethod(ctl, target, isMariadb, vars.get('performance_schema') === 'ON');
    const info: DatabaseInfo = { dialect: isMariadb ? 'mariadb' : 'mysql', version, embedded: false, settings };
    return new MysqlDialect(target, ctl, info, behaviour, lockWaits);
  } catch (e) {
    ctl.destroy();
    if (e instanceof DatabaseUnavailableError) throw e;
    throw new DatabaseUnavailableError(`cannot use ${target.display}: ${oneLine(scrub(describe(e)))}`);
  }
}

type LockWaitMethod =
  | { kind: 'performance_schema' }
  | { kind: 'innodb-status'; informationSchema: InformationSchemaClock | null };

/**
 * MySQL 8 with performance_schema: its live lock tables (untested). Otherwise the InnoDB status
 * text (needs PROCESS), with MariaDB's information_schema lock views as a rate-limited extra.
 */
async function chooseLockWaitMethod(ctl: Conn, target: MysqlTarget, isMariadb: boolean, perfSchema: boolean): Promise<LockWaitMethod> {
  const q = monitorQuery(ctl);
  if (!isMariadb && perfSchema) {
    try {
      await q('SELECT 1 FROM performance_schema.data_lock_waits LIMIT 0');
      await q('SELECT 1 FROM performance_schema.metadata_locks LIMIT 0');
      await q('SELECT 1 FROM performance_schema.threads LIMIT 0');
      return { kind: 'performance_schema' };
    } catch {
      // fall through to the status text
    }
  }
  try {
    await q('SHOW ENGINE INNODB STATUS');
  } catch (e) {
    const errno = serverErrno(e);
    if (errno === ER_SPECIFIC_ACCESS_DENIED || errno === ER_DBACCESS_DENIED || errno === ER_TABLEACCESS_DENIED) {
      throw new DatabaseUnavailableError(
        `cannot use ${target.display}: lockrepro needs the PROCESS privilege to see lock waits ` +
          `(SHOW ENGINE INNODB STATUS): ${scrub(describe(e))}`,
      );
    }
    throw e;
  }
  if (!isMariadb) return { kind: 'innodb-status', informationSchema: null };
  // Whether the view exists, asked without reading it (a read would restart its cache clock).
  const found = await q(`SHOW TABLES FROM information_schema LIKE 'INNODB_LOCK_WAITS'`).catch(() => []);
  return { kind: 'innodb-status', informationSchema: found.length > 0 ? new InformationSchemaClock() : null };
}

/** Open one connection; failures become a one-line {@link DatabaseUnavailableError}. */
async function openConnection(target: MysqlTarget, database: string | undefined): Promise<Conn> {
  let conn: Conn;
  try {
    conn = await mysql.createConnection({
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database,
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: true,
      dateStrings: true,
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

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Run fixed SQL (never a user's) on a lockrepro-owned connection and return its rows. */
function monitorQuery(conn: Conn): MonitorQuery {
  return async (sql, params) => {
    const [rows] = params && params.length > 0 ? await conn.execute(sql, params as mysql.ExecuteValues[]) : await conn.query(sql);
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  };
}

function isHeader(x: unknown): x is mysql.ResultSetHeader {
  return !!x && typeof x === 'object' && !Array.isArray(x) && (x as object).constructor?.name === 'ResultSetHeader';
}

function toResult(res: unknown, fields: unknown): QueryResult {
  if (isHeader(res)) return { rows: [], columns: [], rowCount: res.affectedRows, command: null };
  if (Array.isArray(res)) {
    // CALL of a procedure gives several results: [rows..., header]. Take the first result set.
    if (res.some((x) => Array.isArray(x) || isHeader(x))) {
      const i = res.findIndex((x) => Array.isArray(x));
      if (i < 0) {
        const last = res[res.length - 1];
        return { rows: [], columns: [], rowCount: isHeader(last) ? last.affectedRows : null, command: null };
      }
      const rows = res[i] as Record<string, unknown>[];
      const f = Array.isArray(fields) ? (fields[i] as mysql.FieldPacket[] | undefined) : undefined;
      return { rows, columns: (f ?? []).map((x) => x.name), rowCount: rows.length, command: null };
    }
    const rows = res as Record<string, unknown>[];
    const f = Array.isArray(fields) ? (fields as mysql.FieldPacket[]) : [];
    return { rows, columns: f.map((x) => x.name), rowCount: rows.length, command: null };
  }
  return { rows: [], columns: [], rowCount: null, command: null };
}

/**
 * One connection that runs users' statements (a worker's, or setup/check SQL on the admin
 * connection): server-side binding when there are parameters, the text protocol otherwise.
 */
class Runner {
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
    if (this.closed) return Promise.reject(new Error('this connection was closed'));
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
      return toResult(res, fields);
    } catch (e) {
      const db = classifyMysqlError(e, this.server);
      if (!db) throw new Error(scrub(describe(e)));
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
      if (await within(this.conn.end().then(() => true, () => false), CLOSE_GRACE_MS, false)) return;
    }
    if (current !== null) {
      // KILL makes the server end the statement and close the connection, so the pending query
      // fails with "connection lost"; give it a moment to arrive before dropping the socket.
      if (!this.lost) await kill(this.backendId).catch(noop);
      await within(current.done, CLOSE_GRACE_MS, undefined);
      current.abort(new Error('the connection was closed while a statement was running'));
    } else if (!this.lost) {
      await kill(this.backendId).catch(noop);
    }
    this.conn.destroy();
  }
}

function noop(): void {}

/** `p`, or `fallback` if it takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

class MysqlSession implements Session {
  readonly backendId: number;

  constructor(
    readonly worker: string,
    private readonly runner: Runner,
    private readonly onClose: (s: MysqlSession) => Promise<void>,
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

  query(sql: string, params?: readonly unknown[]): Promise<QueryResult> {
    return this.runner.query(sql, params);
  }

  close(): Promise<void> {
    return this.onClose(this);
  }

  /** Used by the scratch: close, killing the connection if a statement is still running. */
  closeWith(kill: (id: number) => Promise<void>): Promise<void> {
    return this.runner.close(kill);
  }
}

class MysqlDialect implements Dialect {
  private readonly scratches = new Set<MysqlScratch>();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly target: MysqlTarget,
    private readonly ctl: Conn,
    readonly info: DatabaseInfo,
    private readonly behaviour: ServerBehaviour,
    private readonly lockWaitMethod: LockWaitMethod,
  ) {}

  placeholder(_n: number): string {
    return '?';
  }

  async createScratch(label: string): Promise<Scratch> {
    if (this.closing) throw new Error('the database connection is closed');
    const name = scratchName(label);
    const ctl = monitorQuery(this.ctl);
    // utf8mb4 whatever the server's default (MariaDB's is still latin1), so text compares the same
    // on every server.
    await ctl(`CREATE DATABASE ${quoteIdent(name)} CHARACTER SET utf8mb4`).catch((e) => {
      throw asQueryError(e, this.behaviour);
    });
    let admin: Conn | undefined;
    let monitor: Conn | undefined;
    try {
      admin = await openConnection(this.target, name);
      monitor = await openConnection(this.target, undefined);
      await monitor.query(`SET SESSION lock_wait_timeout = ${MONITOR_LOCK_WAIT_TIMEOUT}`);
    } catch (e) {
      admin?.destroy();
      monitor?.destroy();
      await ctl(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
      throw e;
    }
    const scratch = new MysqlScratch(name, new Runner(admin, this.behaviour), monitor, this.ctl, this.behaviour, this, this.lockWaitMethod);
    this.scratches.add(scratch);
    return scratch;
  }

  /** @internal called by a scratch once it is dropped. */
  forget(s: MysqlScratch): void {
    this.scratches.delete(s);
  }

  /** @internal */
  get connectionTarget(): MysqlTarget {
    return this.target;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const errors: unknown[] = [];
      for (const s of [...this.scratches]) await s.drop().catch((e) => errors.push(e));
      await this.ctl.end().catch(() => this.ctl.destroy());
      if (errors.length > 0) throw errors[0];
    })();
    return this.closing;
  }
}

class MysqlScratch implements Scratch {
  private readonly sessions = new Map<number, MysqlSession>();
  private readonly monitorQ: MonitorQuery;
  private readonly source: LockWaitSource;
  private dropping: Promise<void> | null = null;
  private dropped = false;

  constructor(
    readonly name: string,
    private readonly admin: Runner,
    private readonly monitor: Conn,
    private readonly ctl: Conn,
    private readonly behaviour: ServerBehaviour,
    private readonly dialect: MysqlDialect,
    method: LockWaitMethod,
  ) {
    this.monitorQ = monitorQuery(monitor);
    this.source =
      method.kind === 'performance_schema'
        ? new PerformanceSchemaLockWaits(this.monitorQ)
        : new InnodbStatusLockWaits(this.monitorQ, (id) => this.sessions.get(id)?.inflight ?? undefined, method.informationSchema, {
            schema: name,
            threads: () => new Set(this.sessions.keys()),
          });
  }

  exec(sql: string, params?: readonly unknown[]): Promise<QueryResult> {
    if (this.dropping) return Promise.reject(new Error(`scratch database ${this.name} was dropped`));
    return this.admin.query(sql, params);
  }

  async openSession(worker: string, isolation: IsolationLevel): Promise<Session> {
    if (this.dropping) throw new Error(`scratch database ${this.name} was dropped`);
    const conn = await openConnection(this.dialect.connectionTarget, this.name);
    const runner = new Runner(conn, this.behaviour);
    try {
      // The MySQL way: the level for the session's next transactions, set before any begins.
      await conn.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${ISOLATION_SQL[isolation]}`);
      // MySQL has no application_name; the worker's name goes into a user variable, visible with
      // performance_schema.user_variables_by_thread on MySQL 8 and handy when debugging by hand.
      await conn.execute(
        `SET SESSION innodb_lock_wait_timeout = ${SESSION_LOCK_WAIT_TIMEOUT}, SESSION lock_wait_timeout = ${SESSION_LOCK_WAIT_TIMEOUT}, @lockrepro_worker = ?`,
        [worker],
      );
    } catch (e) {
      conn.destroy();
      throw asQueryError(e, this.behaviour);
    }
    if (this.dropping) {
      conn.destroy();
      throw new Error(`scratch database ${this.name} was dropped`);
    }
    const session = new MysqlSession(worker, runner, (s) => this.closeSession(s));
    this.sessions.set(session.backendId, session);
    return session;
  }

  private async closeSession(s: MysqlSession): Promise<void> {
    this.sessions.delete(s.backendId);
    await s.closeWith((id) => this.kill('CONNECTION', id));
  }

  lockWaits(backendIds: readonly number[]): Promise<Map<number, number[]>> {
    if (this.dropped) return Promise.resolve(new Map());
    return this.source.waits(backendIds);
  }

  async cancel(backendId: number): Promise<void> {
    this.assertOwn(backendId);
    await this.kill('QUERY', backendId);
  }

  async terminate(backendId: number): Promise<void> {
    this.assertOwn(backendId);
    await this.kill('CONNECTION', backendId);
  }

  /** Only connections this scratch opened may be killed: lockrepro touches nothing else. */
  private assertOwn(id: number): void {
    if (!Number.isSafeInteger(id) || !(this.sessions.has(id) || id === this.admin.backendId)) {
      throw new Error(`connection ${id} is not one of this run's sessions`);
    }
  }

  /** KILL [QUERY|CONNECTION] from the monitor (the control connection if the monitor is gone). */
  private async kill(what: 'QUERY' | 'CONNECTION', id: number): Promise<void> {
    if (!Number.isSafeInteger(id) || id <= 0) return;
    const sql = `KILL ${what} ${id}`;
    try {
      await this.monitor.query(sql);
    } catch (e) {
      const errno = serverErrno(e);
      if (errno === ER_NO_SUCH_THREAD) return; // already gone
      if (errno !== null) throw asQueryError(e, this.behaviour);
      try {
        await this.ctl.query(sql);
      } catch (e2) {
        if (serverErrno(e2) !== ER_NO_SUCH_THREAD) throw asQueryError(e2, this.behaviour);
      }
    }
  }

  drop(): Promise<void> {
    this.dropping ??= this.doDrop().catch((e) => {
      this.dropping = null; // let a later call (Dialect.close) try again
      throw e;
    });
    return this.dropping;
  }

  private async doDrop(): Promise<void> {
    const kill = (id: number) => this.kill('CONNECTION', id);
    // Close every connection first. Running ones are killed before any idle one is closed (closing
    // an idle one rolls back its transaction, which could let a blocked statement go on), and so
    // that DROP DATABASE does not wait on the metadata locks they hold.
    const sessions = [...this.sessions.values()];
    await Promise.all(sessions.filter((s) => s.running).map((s) => s.closeWith(kill)));
    await Promise.all(sessions.map((s) => s.closeWith(kill)));
    this.sessions.clear();
    await this.admin.close(kill);
    const sql = `DROP DATABASE IF EXISTS ${quoteIdent(this.name)}`;
    try {
      await this.monitor.query(sql);
    } catch (e) {
      if (serverErrno(e) !== null) throw asQueryError(e, this.behaviour);
      await this.ctl.query(sql); // monitor connection lost
    }
    this.dropped = true;
    this.dialect.forget(this);
    await this.monitor.end().catch(() => this.monitor.destroy());
  }
}

function asQueryError(e: unknown, behaviour: ServerBehaviour): Error {
  if (e instanceof QueryError || e instanceof DatabaseUnavailableError) return e;
  const db = classifyMysqlError(e, behaviour);
  return db ? new QueryError(db) : new Error(scrub(describe(e)));
}

function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** `lockrepro_<label>_<6 hex>`: only [a-z0-9_], at most 64 characters (MySQL's limit). */
export function scratchName(label: string): string {
  const clean = label
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // Ünïcode → Unicode
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '')
    .slice(0, 40)
    .replace(/_$/, '');
  const suffix = randomBytes(3).toString('hex');
  return clean ? `lockrepro_${clean}_${suffix}` : `lockrepro_${suffix}`;
}
