/**
 * "Which of these connections wait on a lock, and who holds it?" for MySQL and MariaDB: the
 * queries, answered from sources that reflect the moment of the call. What the answers mean is
 * decided in holders.ts, a pure function of the rows and text read here.
 *
 * MariaDB (tested on 10.11.19), per call:
 *   1. `SHOW FULL PROCESSLIST` (≈0.1 ms): which of the connections run a statement, and the
 *      waits that are not InnoDB's: GET_LOCK() (`User lock`) and metadata / table-level locks
 *      (`Waiting for table metadata lock`, `Waiting for table level lock`, ...).
 *   2. Holders of a GET_LOCK() lock: IS_USED_LOCK(name), when the name can be read from the
 *      statement (a string literal, or a `?` bound by our own session). Holders of metadata and
 *      table-level locks: not available on MariaDB without performance_schema or the
 *      METADATA_LOCK_INFO plugin, so reported as waiting with an empty list ("holder unknown").
 *   3. Only if one of them runs a statement and is not in such a wait: `SHOW ENGINE INNODB STATUS`
 *      (≈0.15–0.3 ms, live, needs PROCESS): transactions in `LOCK WAIT` and the lock each waits
 *      for (innodb-status.ts), and their holders (holders.ts).
 *   4. Only when holders.ts asks for it, and nobody in this process has read them for ≥105 ms:
 *      information_schema's INNODB_TRX and INNODB_LOCK_WAITS, in one statement (a cache the
 *      server refreshes after 100 ms without a read; lab-notes §3).
 *
 * MySQL 8 (NOT TESTED): performance-schema.ts. If performance_schema is unavailable, the MariaDB
 * method is used (status text; no information_schema lock views in MySQL 8).
 */
import type { LockWait, WaitLock } from '../../engine/dialect.js';
import type { MonitorQuery } from './connection.js';
import { getLockNames } from './get-lock.js';
import {
  INFORMATION_SCHEMA_SQL,
  forgetWaitsOf,
  inferInnodbWaits,
  parseInformationSchema,
  parseProcessList,
  processListWaits,
  type HolderMemory,
  type InnodbObservation,
  type Proc,
} from './holders.js';
import { splitTableName, type WaitedLock } from './innodb-status.js';
import { INDEX_COLUMNS_SQL, innodbWaitLock, parseIndexColumns, processListWaitLock, type KeyColumn } from './lock-names.js';
import { PerformanceSchemaLockWaits } from './performance-schema.js';

/** What a worker connection is running right now, as sent by lockrepro (for GET_LOCK names). */
export type InflightLookup = (backendId: number) => { sql: string; params: readonly unknown[] } | undefined;

export interface LockWaitSource {
  waits(backendIds: readonly number[]): Promise<Map<number, LockWait>>;
  /** An InnoDB lock (as a deadlock report prints it) in words. */
  describe(lock: WaitedLock): Promise<WaitLock>;
}

/**
 * The server-wide clock of information_schema's InnoDB lock views: the last time (performance.now)
 * this process finished reading them. Shared by every monitor of one server.
 */
export class InformationSchemaClock {
  private last = -Infinity;
  /** 100 ms is the server's CACHE_MIN_IDLE_TIME_NS; 5 ms margin for clock and network. */
  static readonly IDLE_MS = 105;
  fresh(now = performance.now()): boolean {
    return now - this.last >= InformationSchemaClock.IDLE_MS;
  }
  mark(now = performance.now()): void {
    this.last = now;
  }
}

export type LockWaitMethod =
  | { kind: 'performance_schema' }
  | {
      kind: 'innodb-status';
      informationSchema: InformationSchemaClock | null;
      /** innodb_deadlock_detect is ON (the default): InnoDB resolves a cycle of waits at once. */
      deadlockDetect: boolean;
    };

/** The scratch database and the run's connections in it, workers and admin (read at each call). */
export interface LiveScope {
  schema: string;
  threads(): ReadonlySet<number>;
}

export function lockWaitSource(method: LockWaitMethod, q: MonitorQuery, inflight: InflightLookup, scope: LiveScope): LockWaitSource {
  return method.kind === 'performance_schema'
    ? new PerformanceSchemaLockWaits(q)
    : new InnodbStatusLockWaits(q, inflight, method.informationSchema, method.deadlockDetect, scope);
}

/** MariaDB, or MySQL without performance_schema: PROCESSLIST + status text (+ information_schema). */
export class InnodbStatusLockWaits implements LockWaitSource {
  private memory: HolderMemory = new Map();
  /** Index columns by `schema/table/index`: read once per index (information_schema is live here). */
  private readonly indexes = new Map<string, KeyColumn[]>();

  constructor(
    private readonly q: MonitorQuery,
    private readonly inflight: InflightLookup,
    /** null where information_schema has no INNODB_LOCK_WAITS (MySQL 8). */
    private readonly isClock: InformationSchemaClock | null,
    private readonly deadlockDetect: boolean,
    private readonly scope: LiveScope | null = null,
  ) {}

  async waits(backendIds: readonly number[]): Promise<Map<number, LockWait>> {
    const wanted = new Set(backendIds.filter((id) => Number.isSafeInteger(id) && id > 0));
    const result = new Map<number, LockWait>();
    if (wanted.size === 0) return result;

    const procs = parseProcessList(await this.q('SHOW FULL PROCESSLIST'));
    const pl = processListWaits(procs, wanted);
    for (const p of procs.values()) {
      if (pl.otherLock.includes(p.id)) result.set(p.id, { holders: [], lock: processListWaitLock(p.state, null) });
      else if (pl.userLock.includes(p)) result.set(p.id, await this.userLockWait(p));
    }
    if (!pl.needStatus) {
      this.memory = forgetWaitsOf(this.memory, wanted);
      return result;
    }

    const rows = await this.q('SHOW ENGINE INNODB STATUS');
    const obs: InnodbObservation = {
      now: performance.now(),
      wanted,
      answered: new Set(result.keys()),
      processlist: procs,
      status: String(rows[0]?.Status ?? ''),
      informationSchema: null,
      informationSchemaAvailable: this.isClock !== null,
      scope: this.scope ? { schema: this.scope.schema, threads: this.scope.threads() } : null,
      deadlockDetect: this.deadlockDetect,
    };
    let inferred = inferInnodbWaits(this.memory, obs);
    if (inferred.wantInformationSchema && this.isClock!.fresh()) {
      inferred = inferInnodbWaits(this.memory, { ...obs, informationSchema: await this.readInformationSchema() });
    }
    this.memory = inferred.memory;
    for (const [id, holders] of inferred.waits) {
      const waited = inferred.locks.get(id) ?? null;
      result.set(id, { holders, lock: waited ? await this.describe(waited) : null });
    }
    return result;
  }

  /** The lock in words, with the record's key when its index's columns can be read. */
  async describe(lock: WaitedLock): Promise<WaitLock> {
    if (lock.type === 'table') return innodbWaitLock(lock, null);
    const { schema, table } = splitTableName(lock.table);
    const id = `${schema}/${table}/${lock.index}`;
    let columns = this.indexes.get(id);
    if (!columns && schema !== null && lock.index !== 'GEN_CLUST_INDEX') {
      // Unreadable (no privilege on the table's metadata): the lock without its key, asked once.
      columns = parseIndexColumns(await this.q(INDEX_COLUMNS_SQL, [schema, table, lock.index]).catch(() => []));
      this.indexes.set(id, columns);
    }
    return innodbWaitLock(lock, columns ?? null);
  }

  /** A GET_LOCK() wait: its holders and the lock names asked for. */
  private async userLockWait(proc: Proc): Promise<LockWait> {
    const names = this.userLockNames(proc);
    return { holders: await this.userLockHolders(proc, names), lock: processListWaitLock(proc.state, names) };
  }

  private userLockNames(proc: Proc): string[] {
    const mine = this.inflight(proc.id);
    // Prefer the text we sent (its `?` can be resolved with our params); the server's Info shows the
    // same text for a prepared statement, and the literal text for a plain one.
    const sql = mine?.sql ?? proc.info;
    return sql ? getLockNames(sql, mine?.params ?? []) : [];
  }

  /** Holders of the GET_LOCK() names a waiting statement asks for (IS_USED_LOCK), or []. */
  private async userLockHolders(proc: Proc, names: readonly string[]): Promise<number[]> {
    if (names.length === 0) return [];
    const rows = await this.q(`SELECT ${names.map((_, i) => `IS_USED_LOCK(?) AS h${i}`).join(', ')}`, names);
    const holders = new Set<number>();
    for (const v of Object.values(rows[0] ?? {})) {
      const id = Number(v);
      if (v !== null && Number.isSafeInteger(id) && id !== proc.id) holders.add(id);
    }
    return [...holders].sort((a, b) => a - b);
  }

  private async readInformationSchema() {
    try {
      return parseInformationSchema(await this.q(INFORMATION_SCHEMA_SQL));
    } finally {
      this.isClock!.mark();
    }
  }
}
