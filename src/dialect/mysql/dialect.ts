/**
 * The MySQL / MariaDB dialect, on mysql2: identify the server, choose how lock waits are seen, and
 * make scratch databases.
 *
 * Tested against MariaDB 10.11 (the CI server). MySQL 8 cannot run on the development machine: its
 * paths (performance_schema lock views, errno 3572 / 3024 / 3058, `MySQL thread id` in the status
 * text) follow the MySQL 8.0 manual and are UNTESTED.
 *
 * Connections: one control connection per server (identification, CREATE DATABASE); per scratch
 * database an admin connection inside it, a monitor connection and one connection per worker
 * (scratch.ts).
 */
import type { DatabaseInfo, Dialect, Scratch } from '../../engine/dialect.js';
import { DatabaseUnavailableError, ConnectionLost } from '../../errors.js';
import { scrub } from '../../util/redact.js';
import {
  ER_DBACCESS_DENIED,
  ER_SPECIFIC_ACCESS_DENIED,
  ER_TABLEACCESS_DENIED,
  monitorQuery,
  oneLine,
  openConnection,
  type Conn,
} from './connection.js';
import { describe, serverErrno, type ServerBehaviour } from './errors.js';
import { InformationSchemaClock, type LockWaitMethod } from './lock-waits.js';
import { SESSION_LOCK_WAIT_TIMEOUT, createMysqlScratch, dropLeftovers, type MysqlScratch, type ScratchOwner } from './scratch.js';
import { parseMysqlUrl, type MysqlTarget } from './url.js';

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

    const lockWaits = await chooseLockWaitMethod(
      ctl,
      target,
      isMariadb,
      vars.get('performance_schema') === 'ON',
      vars.get('innodb_deadlock_detect') !== 'OFF',
    );
    const info: DatabaseInfo = { dialect: isMariadb ? 'mariadb' : 'mysql', version, embedded: false, settings };
    const statementLimit = vars.has('max_statement_time')
      ? (ms: number) => `SESSION max_statement_time = ${ms / 1000}`
      : vars.has('max_execution_time')
        ? (ms: number) => `SESSION max_execution_time = ${ms}`
        : null;
    await dropLeftovers(ctl);
    return new MysqlDialect(target, ctl, info, behaviour, lockWaits, statementLimit);
  } catch (e) {
    ctl.destroy();
    if (e instanceof DatabaseUnavailableError) throw e;
    throw new DatabaseUnavailableError(`cannot use ${target.display}: ${oneLine(scrub(describe(e)))}`);
  }
}

/**
 * MySQL 8 with performance_schema: its live lock tables (untested). Otherwise the InnoDB status
 * text (needs PROCESS), with MariaDB's information_schema lock views as a rate-limited extra.
 */
async function chooseLockWaitMethod(
  ctl: Conn,
  target: MysqlTarget,
  isMariadb: boolean,
  perfSchema: boolean,
  deadlockDetect: boolean,
): Promise<LockWaitMethod> {
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
  if (!isMariadb) return { kind: 'innodb-status', informationSchema: null, deadlockDetect };
  // Whether the view exists, asked without reading it (a read would restart its cache clock).
  const found = await q(`SHOW TABLES FROM information_schema LIKE 'INNODB_LOCK_WAITS'`).catch(() => []);
  return { kind: 'innodb-status', informationSchema: found.length > 0 ? new InformationSchemaClock() : null, deadlockDetect };
}

class MysqlDialect implements Dialect, ScratchOwner {
  private readonly scratches = new Set<MysqlScratch>();
  private closing: Promise<void> | null = null;

  constructor(
    readonly target: MysqlTarget,
    readonly ctl: Conn,
    readonly info: DatabaseInfo,
    readonly behaviour: ServerBehaviour,
    readonly lockWaitMethod: LockWaitMethod,
    readonly statementLimit: ((ms: number) => string) | null,
  ) {}

  placeholder(_n: number): string {
    return '?';
  }

  async createScratch(label: string): Promise<Scratch> {
    if (this.closing) throw new ConnectionLost('the database connection is closed');
    const scratch = await createMysqlScratch(this, label);
    this.scratches.add(scratch);
    return scratch;
  }

  forget(s: MysqlScratch): void {
    this.scratches.delete(s);
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
