/**
 * "Which of these connections wait on a lock, and who holds it?" for MySQL and MariaDB, answered
 * from sources that reflect the moment of the call.
 *
 * MariaDB (tested on 10.11.19), per call:
 *   1. `SHOW FULL PROCESSLIST` (≈0.1 ms): which of the connections run a statement, and the
 *      waits that are not InnoDB's: GET_LOCK() (`User lock`) and metadata / table-level locks
 *      (`Waiting for table metadata lock`, `Waiting for table level lock`, ...).
 *   2. Only if one of them runs a statement and is not in such a wait: `SHOW ENGINE INNODB STATUS`
 *      (≈0.15–0.3 ms, live, needs PROCESS): transactions in `LOCK WAIT` and the lock each waits
 *      for (innodb-status.ts).
 *   Holders of an InnoDB lock:
 *   a. fresh, from the status text: the waited-for clustered record's DB_TRX_ID, when it names
 *      another transaction that is active right now (it has an uncommitted change of the row, so
 *      it holds an X lock on it). When no other transaction waits for the same record, that
 *      writer is provably the only holder and the answer is final at once. Covers
 *      UPDATE/DELETE/INSERT holders; not `FOR UPDATE` / `FOR SHARE` holders (they do not write
 *      the row), secondary-index or gap waits.
 *   b. by elimination, also fresh: the lock is on a table of the scratch database (nobody else
 *      uses it) and exactly one other of its connections has an active transaction. Exact; covers
 *      every wait of a two-worker scenario.
 *   c. otherwise information_schema INNODB_LOCK_WAITS ⋈ INNODB_TRX, read once per new wait and
 *      only when nobody (that we know of) has read those views for ≥105 ms, because the server
 *      serves a cached copy otherwise and every read restarts its 100 ms clock. The row is used
 *      only if it shows this very wait (same transaction, thread and requested lock id), i.e. the
 *      copy was taken after the wait began; its blockers are then kept for this wait, minus any
 *      no longer active in later status texts. Until then (up to ~105 ms when two such waits
 *      start close together) the wait is held back, at most WITHHOLD_MAX_MS, so that its first
 *      report names the holder and transcripts do not depend on timing. Measured on 10.11.19.
 *   Holders of a GET_LOCK() lock: IS_USED_LOCK(name), when the name can be read from the
 *   statement (a string literal, or a `?` bound by our own session). Holders of metadata and
 *   table-level locks: not available on MariaDB without performance_schema or the
 *   METADATA_LOCK_INFO plugin, so reported as waiting with an empty list ("holder unknown").
 *
 * MySQL 8 (NOT TESTED: MySQL 8 cannot run on the development machine; written from the manual):
 * `performance_schema.data_lock_waits` (live, no cache) and `performance_schema.metadata_locks`
 * (PENDING vs GRANTED, for GET_LOCK and table metadata locks) joined to `performance_schema.threads`
 * for PROCESSLIST_ID, in one query, plus `SHOW FULL PROCESSLIST` for lock-wait states. If
 * performance_schema is unavailable, the MariaDB method is used (status text; no
 * information_schema lock views in MySQL 8, so holders only from DB_TRX_ID).
 */
import {
  informationSchemaLockId,
  parseInnodbStatus,
  recordWriterCandidates,
  type StatusTransaction,
  type WaitedLock,
} from './innodb-status.js';

/** Runs one statement on the monitor connection and returns its rows. */
export type MonitorQuery = (sql: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/** What a worker connection is running right now, as sent by lockrepro (for GET_LOCK names). */
export type InflightLookup = (backendId: number) => { sql: string; params: readonly unknown[] } | undefined;

export interface LockWaitSource {
  waits(backendIds: readonly number[]): Promise<Map<number, number[]>>;
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

interface Proc {
  id: number;
  command: string;
  state: string;
  info: string | null;
}

/** PROCESSLIST states of a connection waiting on a lock that is not an InnoDB row/table lock. */
export function isLockWaitState(state: string): boolean {
  return state === 'User lock' || /^Waiting for .*lock$/i.test(state) || state === 'Waiting for table flush';
}

function isUserLockState(state: string): boolean {
  return state === 'User lock' || /user.*lock/i.test(state);
}

async function processList(q: MonitorQuery, wanted: ReadonlySet<number>): Promise<Map<number, Proc>> {
  const out = new Map<number, Proc>();
  for (const r of await q('SHOW FULL PROCESSLIST')) {
    const id = Number(r.Id);
    if (!wanted.has(id)) continue;
    out.set(id, {
      id,
      command: String(r.Command ?? ''),
      state: String(r.State ?? ''),
      info: r.Info === null || r.Info === undefined ? null : String(r.Info),
    });
  }
  return out;
}

/** Holders of the GET_LOCK() names a waiting statement asks for (IS_USED_LOCK), or []. */
async function userLockHolders(q: MonitorQuery, proc: Proc, inflight: InflightLookup): Promise<number[]> {
  const mine = inflight(proc.id);
  // Prefer the text we sent (its `?` can be resolved with our params); the server's Info shows the
  // same text for a prepared statement, and the literal text for a plain one.
  const sql = mine?.sql ?? proc.info;
  if (!sql) return [];
  const names = getLockNames(sql, mine?.params ?? []);
  if (names.length === 0) return [];
  const rows = await q(`SELECT ${names.map((_, i) => `IS_USED_LOCK(?) AS h${i}`).join(', ')}`, names);
  const holders = new Set<number>();
  for (const v of Object.values(rows[0] ?? {})) {
    const id = Number(v);
    if (v !== null && Number.isSafeInteger(id) && id !== proc.id) holders.add(id);
  }
  return [...holders].sort((a, b) => a - b);
}

/**
 * The lock names of the GET_LOCK(...) calls in a statement, where the first argument is a string
 * literal or a `?` placeholder (resolved from `params` by position). Other expressions are skipped
 * (their holder is then unknown, never guessed).
 */
export function getLockNames(sql: string, params: readonly unknown[]): string[] {
  const names: string[] = [];
  let placeholder = 0;
  let i = 0;
  const n = sql.length;
  const readQuoted = (q: string): { value: string; end: number } => {
    let j = i + 1;
    let value = '';
    while (j < n) {
      const c = sql[j]!;
      if (c === '\\' && q !== '`') {
        value += sql[j + 1] ?? '';
        j += 2;
        continue;
      }
      if (c === q) {
        if (sql[j + 1] === q) {
          value += q;
          j += 2;
          continue;
        }
        return { value, end: j + 1 };
      }
      value += c;
      j++;
    }
    return { value, end: n };
  };
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      i = readQuoted(c).end;
    } else if (c === '-' && sql[i + 1] === '-' && /\s/.test(sql[i + 2] ?? ' ')) {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '#') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '?') {
      placeholder++;
      i++;
    } else if (/[A-Za-z_]/.test(c) && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? ' ')) {
      const m = /^GET_LOCK\s*\(\s*/i.exec(sql.slice(i, i + 64));
      if (!m) {
        while (i < n && /[A-Za-z0-9_$]/.test(sql[i]!)) i++;
        continue;
      }
      i += m[0].length;
      const a = sql[i];
      if (a === "'" || a === '"') {
        const lit = readQuoted(a);
        if (/^\s*,/.test(sql.slice(lit.end))) names.push(lit.value);
        i = lit.end;
      } else if (a === '?') {
        const v = params[placeholder];
        if (typeof v === 'string' && /^\s*,/.test(sql.slice(i + 1))) names.push(v);
        placeholder++;
        i++;
      }
    } else {
      i++;
    }
  }
  return [...new Set(names)];
}

/**
 * How long a new InnoDB wait whose holders are not yet known is kept out of the answer while
 * information_schema cannot be read fresh (see the file comment). Reporting it at once with an
 * empty or partial list and completing the list ~100 ms later would make the transcript depend on
 * timing ("bob waits" and then "bob waits for alice"); this way the first report is complete. After
 * this bound the wait is reported with what is known, so a server whose information_schema is read
 * by someone else all the time still gets its waits reported.
 */
export const WITHHOLD_MAX_MS = 250;

interface WaitState {
  firstSeen: number;
  reported: boolean;
  /** Blockers information_schema confirmed for this very wait (trx id and thread id). */
  confirmed: { trxId: number; threadId: number }[] | null;
}

/**
 * The scratch database and its worker connections. Nobody else uses a scratch database, so a lock
 * on one of its tables is held by one of these connections: when only one other of them has an
 * active transaction, it is the holder (see {@link onlyOtherHolder}).
 */
export interface ScratchScope {
  schema: string;
  threads(): ReadonlySet<number>;
}

/** MariaDB, or MySQL without performance_schema: status text + PROCESSLIST (+ information_schema). */
export class InnodbStatusLockWaits implements LockWaitSource {
  private readonly state = new Map<string, WaitState>();

  constructor(
    private readonly q: MonitorQuery,
    private readonly inflight: InflightLookup,
    /** null where information_schema has no INNODB_LOCK_WAITS (MySQL 8). */
    private readonly isClock: InformationSchemaClock | null,
    private readonly scope: ScratchScope | null = null,
  ) {}

  async waits(backendIds: readonly number[]): Promise<Map<number, number[]>> {
    const wanted = new Set(backendIds.filter((id) => Number.isSafeInteger(id) && id > 0));
    const result = new Map<number, number[]>();
    if (wanted.size === 0) return result;

    const procs = await processList(this.q, wanted);
    let needStatus = false;
    for (const p of procs.values()) {
      if (p.command === 'Sleep' || p.command === 'Killed') continue;
      if (isLockWaitState(p.state)) {
        result.set(p.id, isUserLockState(p.state) ? await userLockHolders(this.q, p, this.inflight) : []);
      } else {
        needStatus = true;
      }
    }
    if (!needStatus) {
      this.forgetExcept(new Set(), wanted);
      return result;
    }

    const rows = await this.q('SHOW ENGINE INNODB STATUS');
    const now = performance.now();
    const txs = parseInnodbStatus(String(rows[0]?.Status ?? ''));
    const active = new Map<number, number>(); // trx id → thread id, of transactions active now
    for (const t of txs) if (t.trxId !== null && t.threadId !== null) active.set(t.trxId, t.threadId);
    const activeThreads = new Set(txs.filter((t) => t.active && t.threadId !== null).map((t) => t.threadId!));
    // A blocker information_schema named is still one while its transaction is open: the same
    // trx id on the same thread; for a read-only one (trx id 0 there, none in the status text),
    // an open transaction on the same thread.
    const stillHolds = (b: { trxId: number; threadId: number }) =>
      b.trxId > 0 ? active.get(b.trxId) === b.threadId : activeThreads.has(b.threadId);

    const seen = new Set<string>();
    const pending: { tx: StatusTransaction; st: WaitState; holders: Set<number> }[] = [];
    for (const tx of txs) {
      if (!tx.lockWait || tx.threadId === null || !wanted.has(tx.threadId) || result.has(tx.threadId)) continue;
      const key = waitKey(tx);
      seen.add(key);
      let st = this.state.get(key);
      if (!st) this.state.set(key, (st = { firstSeen: now, reported: false, confirmed: null }));

      const holders = new Set<number>();
      for (const b of st.confirmed ?? []) if (stillHolds(b)) holders.add(b.threadId);
      const writers = writerThreads(tx, active);
      for (const w of writers) holders.add(w);
      const only = holders.size === 0 && this.scope ? onlyOtherHolder(tx, txs, this.scope) : null;
      if (only !== null) holders.add(only);
      const exact = (writers.length > 0 && soleWaiterOnRecord(tx, txs)) || only !== null;

      if (st.confirmed || exact || st.reported || !this.isClock || tx.trxId === null || now - st.firstSeen >= WITHHOLD_MAX_MS) {
        st.reported = true;
        result.set(tx.threadId, sorted(holders));
      } else {
        pending.push({ tx, st, holders });
      }
    }
    this.forgetExcept(seen, wanted);

    if (pending.length > 0 && this.isClock!.fresh()) {
      const lw = await this.readInformationSchema();
      for (const { tx, st, holders } of pending) {
        const mine = lw.filter((r) => r.waitTrx === tx.trxId && r.waitThread === tx.threadId);
        // A copy taken before this wait began does not show it: not confirmed, try again later.
        if (mine.length === 0 || !sameLock(tx, mine[0]!.waitLock)) continue;
        st.confirmed = mine
          .filter((r) => r.blockTrx !== null && r.blockThread !== null && r.blockThread !== tx.threadId)
          .map((r) => ({ trxId: r.blockTrx!, threadId: r.blockThread! }));
        for (const b of st.confirmed) if (stillHolds(b)) holders.add(b.threadId);
        st.reported = true;
        result.set(tx.threadId!, sorted(holders));
      }
    }
    return result;
  }

  /** Drop the state of waits of these backends that are over. */
  private forgetExcept(seen: ReadonlySet<string>, wanted: ReadonlySet<number>): void {
    for (const key of [...this.state.keys()]) {
      if (!seen.has(key) && wanted.has(Number(key.slice(0, key.indexOf('/'))))) this.state.delete(key);
    }
  }

  private async readInformationSchema() {
    try {
      const rows = await this.q(
        `SELECT r.trx_id AS wt, r.trx_mysql_thread_id AS wth, r.trx_requested_lock_id AS wl,
                b.trx_id AS bt, b.trx_mysql_thread_id AS bth
           FROM information_schema.INNODB_TRX r
           LEFT JOIN information_schema.INNODB_LOCK_WAITS w ON w.requesting_trx_id = r.trx_id
           LEFT JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
          WHERE r.trx_state = 'LOCK WAIT'`,
      );
      return rows.map((r) => ({
        waitTrx: Number(r.wt),
        waitThread: Number(r.wth),
        waitLock: r.wl === null ? null : String(r.wl),
        blockTrx: r.bt === null ? null : Number(r.bt),
        blockThread: r.bth === null ? null : Number(r.bth),
      }));
    } finally {
      this.isClock!.mark();
    }
  }
}

/** Threads of active transactions (other than the waiter) that last wrote the waited-for record. */
function writerThreads(tx: StatusTransaction, active: ReadonlyMap<number, number>): number[] {
  if (!tx.waitingFor) return [];
  const out: number[] = [];
  for (const trx of recordWriterCandidates(tx.waitingFor)) {
    const thread = active.get(trx);
    if (trx !== tx.trxId && thread !== undefined && thread !== tx.threadId) out.push(thread);
  }
  return out;
}

/**
 * The holder by elimination: the waited-for lock is on a table of the scratch database, which only
 * its own connections use, and exactly one of them other than the waiter has an open (`ACTIVE`)
 * transaction. Locks are held until the transaction ends, so that transaction holds the lock.
 * Exact, fresh (from the same status text) and needs no information_schema; covers what DB_TRX_ID
 * cannot: FOR UPDATE and shared-lock holders, secondary-index and gap waits. Null when it cannot
 * be decided this way (two or more candidates).
 */
function onlyOtherHolder(tx: StatusTransaction, all: readonly StatusTransaction[], scope: ScratchScope): number | null {
  const table = tx.waitingFor?.table;
  if (!table || !table.startsWith(`\`${scope.schema}\`.`)) return null;
  const ours = scope.threads();
  const others = new Set<number>();
  for (const o of all) {
    if (o.active && o.threadId !== null && o.threadId !== tx.threadId && ours.has(o.threadId)) others.add(o.threadId);
  }
  return others.size === 1 ? [...others][0]! : null;
}

/**
 * True when no other transaction waits for a lock on the same record. Then the record's active
 * writer is the only holder: its X lock rules out any other granted lock on the record (gap locks
 * aside, which do not block a record or next-key request), and no earlier waiter queues ahead.
 */
function soleWaiterOnRecord(tx: StatusTransaction, all: readonly StatusTransaction[]): boolean {
  const l = tx.waitingFor;
  if (!l || l.type !== 'record' || l.heapNo === null) return false;
  return !all.some((o) => {
    const m = o.waitingFor;
    return o !== tx && o.lockWait && m?.type === 'record' && m.space === l.space && m.page === l.page && m.heapNo === l.heapNo;
  });
}

function waitKey(tx: StatusTransaction): string {
  const l = tx.waitingFor;
  const lock = !l ? '?' : l.type === 'record' ? `rec:${l.space}:${l.page}:${l.heapNo}:${l.mode}` : `table:${l.table}:${l.mode}`;
  return `${tx.threadId}/${tx.trxId}/${lock}`;
}

/** Does information_schema's requested lock id denote the lock the status text shows? */
function sameLock(tx: StatusTransaction, lockId: string | null): boolean {
  if (lockId === null || tx.trxId === null || !tx.waitingFor) return false;
  const expected = informationSchemaLockId(tx.trxId, tx.waitingFor);
  if (expected !== null) return lockId === expected;
  return isTableLockId(tx.trxId, tx.waitingFor, lockId);
}

function isTableLockId(trxId: number, lock: WaitedLock, lockId: string): boolean {
  return lock.type === 'table' && new RegExp(`^${trxId}:\\d+$`).test(lockId);
}

function sorted(s: Iterable<number>): number[] {
  return [...s].sort((a, b) => a - b);
}

/**
 * MySQL 8: performance_schema. NOT TESTED (MySQL 8 cannot run here); from the MySQL 8.0 manual:
 * data_lock_waits(REQUESTING_THREAD_ID, BLOCKING_THREAD_ID), metadata_locks(OBJECT_TYPE,
 * OBJECT_SCHEMA, OBJECT_NAME, LOCK_TYPE, LOCK_STATUS, OWNER_THREAD_ID), threads(THREAD_ID,
 * PROCESSLIST_ID).
 */
export class PerformanceSchemaLockWaits implements LockWaitSource {
  constructor(private readonly q: MonitorQuery) {}

  async waits(backendIds: readonly number[]): Promise<Map<number, number[]>> {
    const ids = backendIds.filter((id) => Number.isSafeInteger(id) && id > 0);
    const result = new Map<number, Set<number>>();
    if (ids.length === 0) return new Map();
    const list = ids.join(',');
    const rows = await this.q(
      `SELECT 'data' AS src, rt.PROCESSLIST_ID AS waiting, bt.PROCESSLIST_ID AS blocking,
              NULL AS object_type, NULL AS want, NULL AS held
         FROM performance_schema.data_lock_waits w
         JOIN performance_schema.threads rt ON rt.THREAD_ID = w.REQUESTING_THREAD_ID
         LEFT JOIN performance_schema.threads bt ON bt.THREAD_ID = w.BLOCKING_THREAD_ID
        WHERE rt.PROCESSLIST_ID IN (${list})
       UNION ALL
       SELECT 'mdl', wt.PROCESSLIST_ID, ht.PROCESSLIST_ID, p.OBJECT_TYPE, p.LOCK_TYPE, g.LOCK_TYPE
         FROM performance_schema.metadata_locks p
         JOIN performance_schema.threads wt ON wt.THREAD_ID = p.OWNER_THREAD_ID
         LEFT JOIN performance_schema.metadata_locks g
                ON g.LOCK_STATUS = 'GRANTED' AND g.OWNER_THREAD_ID <> p.OWNER_THREAD_ID
               AND g.OBJECT_TYPE = p.OBJECT_TYPE AND g.OBJECT_SCHEMA <=> p.OBJECT_SCHEMA
               AND g.OBJECT_NAME <=> p.OBJECT_NAME
         LEFT JOIN performance_schema.threads ht ON ht.THREAD_ID = g.OWNER_THREAD_ID
        WHERE p.LOCK_STATUS = 'PENDING' AND wt.PROCESSLIST_ID IN (${list})`,
    );
    for (const r of rows) {
      const waiting = Number(r.waiting);
      const set = result.get(waiting) ?? new Set<number>();
      result.set(waiting, set);
      if (r.blocking === null || r.blocking === undefined) continue;
      const blocking = Number(r.blocking);
      if (blocking === waiting) continue;
      if (r.src === 'data' || r.object_type === 'USER LEVEL LOCK' || mdlConflicts(String(r.want), String(r.held))) {
        set.add(blocking);
      }
    }
    // Lock-wait states the instruments may not cover (instrument disabled): waiting, holder unknown.
    const procs = await processList(this.q, new Set(ids));
    for (const p of procs.values()) {
      if (p.command !== 'Sleep' && isLockWaitState(p.state) && !result.has(p.id)) result.set(p.id, new Set());
    }
    return new Map([...result].map(([k, v]) => [k, sorted(v)]));
  }
}

/**
 * Metadata lock compatibility for object locks (tables etc.), from the matrix in MySQL's mdl.cc:
 * does a request of type `want` conflict with a granted lock of type `held`? Unknown types (scoped
 * locks) count as conflicting only when either side is EXCLUSIVE.
 */
const MDL_ORDER = ['SHARED', 'SHARED_HIGH_PRIO', 'SHARED_READ', 'SHARED_WRITE', 'SHARED_WRITE_LOW_PRIO', 'SHARED_UPGRADABLE', 'SHARED_READ_ONLY', 'SHARED_NO_WRITE', 'SHARED_NO_READ_WRITE', 'EXCLUSIVE'];
// Row: requested type; column: granted type (same order); '-' = conflict.
const MDL_MATRIX = [
  '+++++++++-', // S
  '+++++++++-', // SH
  '++++++++--', // SR
  '++++++----', // SW
  '++++++----', // SWLP
  '+++++-+---', // SU
  '+++--+++--', // SRO
  '+++---+---', // SNW
  '++--------', // SNRW
  '----------', // X
];

export function mdlConflicts(want: string, held: string): boolean {
  const w = MDL_ORDER.indexOf(want);
  const h = MDL_ORDER.indexOf(held);
  if (w < 0 || h < 0) return want === 'EXCLUSIVE' || held === 'EXCLUSIVE';
  return MDL_MATRIX[w]![h] === '-';
}
