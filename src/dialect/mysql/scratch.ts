/**
 * A scratch database: created for one variant run, holding its admin connection (setup and
 * checks), a monitor connection (lock waits, KILL, DROP DATABASE) and one connection per worker.
 */
import {
  QueryError,
  type DeadlockReport as EngineDeadlockReport,
  type LockWait,
  type QueryResult,
  type Scratch,
  type Session,
  type SessionOptions,
} from '../../engine/dialect.js';
import { ConnectionLost, DatabaseUnavailableError } from '../../errors.js';
import { ISOLATION_SQL, type IsolationLevel } from '../../vocabulary.js';
import { scrub } from '../../util/redact.js';
import { ownsLock, SCRATCH_LIKE, scratchName, serverStatementLimitMs } from '../scratch-name.js';
import { ER_NO_SUCH_THREAD, monitorQuery, openConnection, quoteIdent, type Conn } from './connection.js';
import { deadlockInvolving, parseLatestDeadlock, type DeadlockLock, type DeadlockReport } from './deadlock-report.js';
import { classifyMysqlError, describe, serverErrno, type ServerBehaviour } from './errors.js';
import { lockWaitSource, type LockWaitMethod, type LockWaitSource } from './lock-waits.js';
import { MysqlSession, Runner } from './session.js';
import type { MysqlTarget } from './url.js';

/**
 * innodb_lock_wait_timeout and lock_wait_timeout (metadata locks; server default one day) for
 * worker sessions, in seconds. Generous on purpose: the engine has its own per-step hang timeout
 * and cancels with KILL QUERY; this only makes the outcome of a real hang the same on every server.
 * A scenario may lower it with its own `SET SESSION innodb_lock_wait_timeout = ...` step.
 */
export const SESSION_LOCK_WAIT_TIMEOUT = 50;

/** lock_wait_timeout of the monitor, which runs DROP DATABASE after killing the workers. */
const MONITOR_LOCK_WAIT_TIMEOUT = 30;

/** What a scratch needs from the dialect that made it. */
export interface ScratchOwner {
  readonly target: MysqlTarget;
  readonly behaviour: ServerBehaviour;
  readonly lockWaitMethod: LockWaitMethod;
  /** The control connection: CREATE DATABASE, and the fallback when the monitor is lost. */
  readonly ctl: Conn;
  /**
   * `SESSION <variable> = <value>` that stops a statement after `ms` on the server, or null when it
   * has none: MariaDB's max_statement_time (seconds, every statement), MySQL's max_execution_time
   * (ms, SELECT only).
   */
  readonly statementLimit: ((ms: number) => string) | null;
  /** Called once the scratch is dropped. */
  forget(s: MysqlScratch): void;
}

/**
 * A run holds the user lock GET_LOCK('<scratch name>') on its control connection from before
 * CREATE DATABASE until after DROP DATABASE. User locks are server-wide and go with the session
 * that holds them, however it ends: a later run that can take one knows the database's run is
 * gone. Scratch names are at most 59 characters, under MySQL's 64-character limit on lock names.
 */
async function takeLock(ctl: Conn, name: string): Promise<boolean> {
  const rows = await monitorQuery(ctl)('SELECT GET_LOCK(?, 0) AS got', [name]);
  return Number(rows[0]?.got) === 1;
}

async function releaseLock(ctl: Conn, name: string): Promise<void> {
  await monitorQuery(ctl)('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
}

/**
 * Drop the scratch databases whose run is gone (see {@link takeLock}): those this user sees and
 * may drop; any other is left alone.
 */
export async function dropLeftovers(ctl: Conn): Promise<void> {
  const q = monitorQuery(ctl);
  const left = await q('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [SCRATCH_LIKE]);
  for (const r of left) {
    const name = String(r.name);
    if (!ownsLock(name) || !(await takeLock(ctl, name))) continue; // its run is alive
    try {
      await q(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    } catch (e) {
      if (serverErrno(e) === null) throw e; // the connection failed: the run cannot go on
    } finally {
      await releaseLock(ctl, name);
    }
  }
}

/** Create the database and its admin and monitor connections. */
export async function createMysqlScratch(owner: ScratchOwner, label: string): Promise<MysqlScratch> {
  let name = scratchName(label);
  const ctl = monitorQuery(owner.ctl);
  const locked = async () => {
    try {
      return await takeLock(owner.ctl, name);
    } catch (e) {
      throw asQueryError(e, owner.behaviour);
    }
  };
  while (!(await locked())) name = scratchName(label); // a live run's name: another suffix
  // utf8mb4 whatever the server's default (MariaDB's is still latin1), so text compares the same
  // on every server.
  await ctl(`CREATE DATABASE ${quoteIdent(name)} CHARACTER SET utf8mb4`).catch(async (e) => {
    await releaseLock(owner.ctl, name);
    throw asQueryError(e, owner.behaviour);
  });
  let admin: Conn | undefined;
  let monitor: Conn | undefined;
  try {
    admin = await openConnection(owner.target, name);
    monitor = await openConnection(owner.target, undefined);
    await monitor.query(`SET SESSION lock_wait_timeout = ${MONITOR_LOCK_WAIT_TIMEOUT}`);
  } catch (e) {
    admin?.destroy();
    monitor?.destroy();
    await ctl(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
    await releaseLock(owner.ctl, name);
    throw e;
  }
  return new MysqlScratch(name, new Runner(admin, owner.behaviour), monitor, owner);
}

export class MysqlScratch implements Scratch {
  private readonly sessions = new Map<number, MysqlSession>();
  /** Every connection id this scratch opened, closed ones too (for lastDeadlock). */
  private readonly opened = new Set<number>();
  private readonly source: LockWaitSource;
  private dropping: Promise<void> | null = null;
  private dropped = false;

  constructor(
    readonly name: string,
    private readonly admin: Runner,
    private readonly monitor: Conn,
    private readonly owner: ScratchOwner,
  ) {
    this.opened.add(admin.backendId);
    this.source = lockWaitSource(owner.lockWaitMethod, monitorQuery(monitor), (id) => this.sessions.get(id)?.inflight ?? undefined, {
      schema: name,
      threads: () => new Set([...this.sessions.keys(), this.admin.backendId]),
    });
  }

  exec(sql: string, params?: readonly unknown[]): Promise<QueryResult> {
    if (this.dropping) return Promise.reject(new Error(`scratch database ${this.name} was dropped`));
    return this.admin.query(sql, params);
  }

  async openSession(worker: string, isolation: IsolationLevel, limits?: SessionOptions): Promise<Session> {
    if (this.dropping) throw new Error(`scratch database ${this.name} was dropped`);
    const conn = await openConnection(this.owner.target, this.name);
    const runner = new Runner(conn, this.owner.behaviour);
    try {
      // The MySQL way: the level for the session's next transactions, set before any begins.
      await conn.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${ISOLATION_SQL[isolation]}`);
      // MySQL has no application_name; the worker's name goes into a user variable, visible with
      // performance_schema.user_variables_by_thread on MySQL 8 and handy when debugging by hand.
      // The server does not notice a dead client under a running statement (a killed run's
      // SLEEP(20) ran on; InnoDB lock waits too): a limit of its own stops it.
      const limit =
        limits?.stepTimeoutMs && this.owner.statementLimit
          ? `, ${this.owner.statementLimit(serverStatementLimitMs(limits.stepTimeoutMs))}`
          : '';
      await conn.execute(
        `SET SESSION innodb_lock_wait_timeout = ${SESSION_LOCK_WAIT_TIMEOUT}, SESSION lock_wait_timeout = ${SESSION_LOCK_WAIT_TIMEOUT}${limit}, @lockrepro_worker = ?`,
        [worker],
      );
    } catch (e) {
      conn.destroy();
      throw asQueryError(e, this.owner.behaviour);
    }
    if (this.dropping) {
      conn.destroy();
      throw new Error(`scratch database ${this.name} was dropped`);
    }
    const session = new MysqlSession(
      worker,
      runner,
      (s) => this.closeSession(s),
      (victim) => this.deadlockFor(victim),
    );
    this.sessions.set(session.backendId, session);
    this.opened.add(session.backendId);
    return session;
  }

  private async closeSession(s: MysqlSession): Promise<void> {
    this.sessions.delete(s.backendId);
    await s.closeWith((id) => this.kill('CONNECTION', id));
  }

  lockWaits(backendIds: readonly number[]): Promise<Map<number, LockWait>> {
    if (this.dropped) return Promise.resolve(new Map());
    return this.source.waits(backendIds);
  }

  /**
   * InnoDB's report of the latest deadlock it resolved (`LATEST DETECTED DEADLOCK` in
   * `SHOW ENGINE INNODB STATUS`, read on the monitor connection), if this run's sessions are in
   * its cycle; null otherwise. The server keeps only the latest deadlock, server-wide: the caller
   * should check `victimThreadId` (and `detectedAt`, to tell it from an earlier one of the same
   * run). A GET_LOCK() deadlock (1213 too) is not InnoDB's and is never in it.
   */
  async lastDeadlock(): Promise<DeadlockReport | null> {
    if (this.dropped) return null;
    const rows = await monitorQuery(this.monitor)('SHOW ENGINE INNODB STATUS');
    return deadlockInvolving(parseLatestDeadlock(String(rows[0]?.Status ?? '')), this.opened);
  }

  /**
   * The latest deadlock as the engine takes it, when InnoDB names `victim` as the one it rolled
   * back (a GET_LOCK() deadlock is not InnoDB's: no report). Thread ids become `{{id}}` so the
   * engine can put worker names in their place; the text keeps what a reader needs (who waited for
   * which lock of which table) without the ids and numbers that change every run.
   */
  private async deadlockFor(victim: number): Promise<EngineDeadlockReport | undefined> {
    const report = await this.lastDeadlock();
    if (!report || report.victimThreadId !== victim) return undefined;
    const lockText = (l: DeadlockLock | null) =>
      l ? `${l.mode} lock (${l.detail}) on ${l.index ? `index ${l.index} of ` : ''}table ${l.table}` : 'a lock';
    const waits = [];
    for (const m of report.cycle) {
      waits.push({
        waiter: m.threadId,
        holders: m.waitsForThreadId === undefined ? [] : [m.waitsForThreadId],
        lock: m.lock ? lockText(m.lock) : null,
        waitLock: m.waited ? await this.source.describe(m.waited) : null,
      });
    }
    const text = report.cycle
      .map(
        (m) =>
          `{{${m.threadId}}} waits for ${lockText(m.lock)}${m.waitsForThreadId === undefined ? '' : `, held by {{${m.waitsForThreadId}}}`}`,
      )
      .concat(`InnoDB rolled back {{${victim}}}'s transaction.`)
      .join('\n');
    return { waits, text };
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
      if (errno !== null) throw asQueryError(e, this.owner.behaviour);
      try {
        await this.owner.ctl.query(sql);
      } catch (e2) {
        if (serverErrno(e2) !== ER_NO_SUCH_THREAD) throw asQueryError(e2, this.owner.behaviour);
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
      if (serverErrno(e) !== null) throw asQueryError(e, this.owner.behaviour);
      await this.owner.ctl.query(sql); // monitor connection lost
    }
    await releaseLock(this.owner.ctl, this.name);
    this.dropped = true;
    this.owner.forget(this);
    await this.monitor.end().catch(() => this.monitor.destroy());
  }
}

export function asQueryError(e: unknown, behaviour: ServerBehaviour): Error {
  if (e instanceof QueryError || e instanceof DatabaseUnavailableError) return e;
  const db = classifyMysqlError(e, behaviour);
  // Not the server's answer: the connection failed under the statement.
  return db ? new QueryError(db) : new ConnectionLost(scrub(describe(e)));
}
