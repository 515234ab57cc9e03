/**
 * Who waits for whom on MariaDB (and MySQL without performance_schema), as a pure function of what
 * the monitor read: `SHOW FULL PROCESSLIST` rows, the `SHOW ENGINE INNODB STATUS` text and, when
 * asked for, information_schema rows. The queries themselves are in lock-waits.ts; everything here
 * can be tested on recorded server output (test/fixtures/mariadb).
 *
 * Holders of an InnoDB lock:
 *   a. the waited-for clustered record's DB_TRX_ID, when it names another transaction that is
 *      active right now (it has an uncommitted change of the row, so it holds an X lock on it).
 *      When no other transaction waits for the same record, that writer is provably the only
 *      holder and the answer is final at once. Covers UPDATE/DELETE/INSERT holders; not
 *      `FOR UPDATE` / `FOR SHARE` holders (they do not write the row), secondary-index or gap
 *      waits.
 *   b. by elimination: the lock is on a table of the scratch database (nobody else uses it) and
 *      exactly one other of its connections has an active transaction.
 *   c. otherwise information_schema INNODB_LOCK_WAITS ⋈ INNODB_TRX, read once per new wait and
 *      only when nobody (that we know of) has read those views for ≥105 ms, because the server
 *      serves a cached copy otherwise and every read restarts its 100 ms clock. The row is used
 *      only if it shows this very wait (same transaction, thread and requested lock id), i.e. the
 *      copy was taken after the wait began; its blockers are then kept for this wait, minus any
 *      no longer active in later status texts. Until then (up to ~105 ms when two such waits
 *      start close together) the wait is held back, at most WITHHOLD_MAX_MS, so that its first
 *      report names the holder and transcripts do not depend on timing.
 */
import {
  informationSchemaLockId,
  parseInnodbStatus,
  recordWriterCandidates,
  type StatusTransaction,
  type WaitedLock,
} from './innodb-status.js';

/** One row of `SHOW FULL PROCESSLIST`, for the connections asked about. */
export interface Proc {
  id: number;
  command: string;
  state: string;
  info: string | null;
}

/** The rows of `SHOW FULL PROCESSLIST` for the wanted connections. */
export function parseProcessList(rows: readonly Record<string, unknown>[], wanted: ReadonlySet<number>): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const r of rows) {
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

/** PROCESSLIST states of a connection waiting on a lock that is not an InnoDB row/table lock. */
export function isLockWaitState(state: string): boolean {
  return state === 'User lock' || /^Waiting for .*lock$/i.test(state) || state === 'Waiting for table flush';
}

export function isUserLockState(state: string): boolean {
  return state === 'User lock' || /user.*lock/i.test(state);
}

/**
 * What the process list alone tells: connections in a GET_LOCK() wait (their holders are asked
 * with IS_USED_LOCK), connections in another non-InnoDB lock wait (holder unknown), and whether
 * some connection runs a statement that may be in an InnoDB wait (then the status text is read).
 */
export function processListWaits(procs: ReadonlyMap<number, Proc>): { userLock: Proc[]; otherLock: number[]; needStatus: boolean } {
  const userLock: Proc[] = [];
  const otherLock: number[] = [];
  let needStatus = false;
  for (const p of procs.values()) {
    if (p.command === 'Sleep' || p.command === 'Killed') continue;
    if (isLockWaitState(p.state)) {
      if (isUserLockState(p.state)) userLock.push(p);
      else otherLock.push(p.id);
    } else {
      needStatus = true;
    }
  }
  return { userLock, otherLock, needStatus };
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

/** What is remembered about one wait between calls. */
export interface WaitMemory {
  readonly firstSeen: number;
  readonly reported: boolean;
  /** Blockers information_schema confirmed for this very wait (trx id and thread id). */
  readonly confirmed: readonly { trxId: number; threadId: number }[] | null;
}

/** Waits by key (thread / trx / lock); see {@link waitKey}. */
export type HolderMemory = ReadonlyMap<string, WaitMemory>;

/**
 * The scratch database and its worker connections. Nobody else uses a scratch database, so a lock
 * on one of its tables is held by one of these connections: when only one other of them has an
 * active transaction, it is the holder (see {@link onlyOtherHolder}).
 */
export interface ScratchScope {
  schema: string;
  threads: ReadonlySet<number>;
}

/** One row of {@link INFORMATION_SCHEMA_WAITS_SQL}. */
export interface InformationSchemaWait {
  waitTrx: number;
  waitThread: number;
  waitLock: string | null;
  blockTrx: number | null;
  blockThread: number | null;
}

export const INFORMATION_SCHEMA_WAITS_SQL = `SELECT r.trx_id AS wt, r.trx_mysql_thread_id AS wth, r.trx_requested_lock_id AS wl,
                b.trx_id AS bt, b.trx_mysql_thread_id AS bth
           FROM information_schema.INNODB_TRX r
           LEFT JOIN information_schema.INNODB_LOCK_WAITS w ON w.requesting_trx_id = r.trx_id
           LEFT JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
          WHERE r.trx_state = 'LOCK WAIT'`;

export function parseInformationSchemaWaits(rows: readonly Record<string, unknown>[]): InformationSchemaWait[] {
  return rows.map((r) => ({
    waitTrx: Number(r.wt),
    waitThread: Number(r.wth),
    waitLock: r.wl === null || r.wl === undefined ? null : String(r.wl),
    blockTrx: r.bt === null || r.bt === undefined ? null : Number(r.bt),
    blockThread: r.bth === null || r.bth === undefined ? null : Number(r.bth),
  }));
}

/** Everything one call read about InnoDB waits. */
export interface InnodbObservation {
  /** performance.now() of the reading, in ms. */
  now: number;
  /** The connections asked about. */
  wanted: ReadonlySet<number>;
  /** Connections already answered from the process list (not InnoDB waits). */
  answered: ReadonlySet<number>;
  /** The `SHOW ENGINE INNODB STATUS` text. */
  status: string;
  /** information_schema rows, when they were read for this call. */
  informationSchema: readonly InformationSchemaWait[] | null;
  /** Whether information_schema lock views exist on this server (MariaDB). */
  informationSchemaAvailable: boolean;
  scope: ScratchScope | null;
}

export interface InnodbInference {
  /** Waiting connection → the connections that hold what it waits for ([] = holder unknown). */
  waits: Map<number, number[]>;
  /** To pass to the next call. */
  memory: Map<string, WaitMemory>;
  /** Some wait is held back until information_schema names its holder: read it if it is fresh. */
  wantInformationSchema: boolean;
}

/** Connections forgotten when nothing runs: drop what is remembered about their waits. */
export function forgetWaitsOf(memory: HolderMemory, wanted: ReadonlySet<number>, seen: ReadonlySet<string> = new Set()): Map<string, WaitMemory> {
  const out = new Map<string, WaitMemory>();
  for (const [key, m] of memory) {
    if (!seen.has(key) && wanted.has(Number(key.slice(0, key.indexOf('/'))))) continue;
    out.set(key, m);
  }
  return out;
}

/** The InnoDB waits of the wanted connections, with their holders, from one status text. */
export function inferInnodbWaits(memory: HolderMemory, obs: InnodbObservation): InnodbInference {
  const { now, wanted } = obs;
  const waits = new Map<number, number[]>();
  const next = new Map(memory);
  const txs = parseInnodbStatus(obs.status);
  const active = new Map<number, number>(); // trx id → thread id, of transactions active now
  for (const t of txs) if (t.trxId !== null && t.threadId !== null) active.set(t.trxId, t.threadId);
  const activeThreads = new Set(txs.filter((t) => t.active && t.threadId !== null).map((t) => t.threadId!));
  // A blocker information_schema named is still one while its transaction is open: the same
  // trx id on the same thread; for a read-only one (trx id 0 there, none in the status text),
  // an open transaction on the same thread.
  const stillHolds = (b: { trxId: number; threadId: number }) =>
    b.trxId > 0 ? active.get(b.trxId) === b.threadId : activeThreads.has(b.threadId);

  const seen = new Set<string>();
  let wantInformationSchema = false;
  for (const tx of txs) {
    if (!tx.lockWait || tx.threadId === null || !wanted.has(tx.threadId) || obs.answered.has(tx.threadId)) continue;
    const key = waitKey(tx);
    seen.add(key);
    let st: WaitMemory = memory.get(key) ?? { firstSeen: now, reported: false, confirmed: null };

    const holders = new Set<number>();
    for (const b of st.confirmed ?? []) if (stillHolds(b)) holders.add(b.threadId);
    const writers = writerThreads(tx, active);
    for (const w of writers) holders.add(w);
    const only = holders.size === 0 && obs.scope ? onlyOtherHolder(tx, txs, obs.scope) : null;
    if (only !== null) holders.add(only);
    const exact = (writers.length > 0 && soleWaiterOnRecord(tx, txs)) || only !== null;

    if (st.confirmed || exact || st.reported || !obs.informationSchemaAvailable || tx.trxId === null || now - st.firstSeen >= WITHHOLD_MAX_MS) {
      st = { ...st, reported: true };
      waits.set(tx.threadId, sorted(holders));
    } else if (obs.informationSchema === null) {
      wantInformationSchema = true;
    } else {
      const mine = obs.informationSchema.filter((r) => r.waitTrx === tx.trxId && r.waitThread === tx.threadId);
      // A copy taken before this wait began does not show it: not confirmed, try again later.
      if (mine.length > 0 && sameLock(tx, mine[0]!.waitLock)) {
        const confirmed = mine
          .filter((r) => r.blockTrx !== null && r.blockThread !== null && r.blockThread !== tx.threadId)
          .map((r) => ({ trxId: r.blockTrx!, threadId: r.blockThread! }));
        for (const b of confirmed) if (stillHolds(b)) holders.add(b.threadId);
        st = { ...st, confirmed, reported: true };
        waits.set(tx.threadId, sorted(holders));
      }
    }
    next.set(key, st);
  }
  return { waits, memory: forgetWaitsOf(next, wanted, seen), wantInformationSchema };
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
  const others = new Set<number>();
  for (const o of all) {
    if (o.active && o.threadId !== null && o.threadId !== tx.threadId && scope.threads.has(o.threadId)) others.add(o.threadId);
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

/** One wait: the waiting thread (first, up to the `/`), its transaction and the lock. */
export function waitKey(tx: StatusTransaction): string {
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
