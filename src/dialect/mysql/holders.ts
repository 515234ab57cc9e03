/**
 * Who waits for whom on MariaDB (and MySQL without performance_schema), as a pure function of what
 * the monitor read: `SHOW FULL PROCESSLIST` rows, the `SHOW ENGINE INNODB STATUS` text and, when
 * asked for, information_schema rows. The queries are in lock-waits.ts; everything here runs on
 * recorded server output in the unit tests (test/fixtures/mariadb).
 *
 * A holder is named only from the database's own lock data; where that data does not tell, the
 * holder is unknown (an empty list), never guessed. The sources, for an InnoDB lock wait:
 *   a. The record's writer. The waited-for clustered record's DB_TRX_ID names another transaction
 *      that is active right now: it has an uncommitted change of the row, so it holds an X lock on
 *      it. When no other transaction waits for the same record, it is the only holder (its X lock
 *      rules out any other granted lock on the record, gap locks aside, which block only inserts).
 *   b. Elimination. InnoDB locks belong to transactions, and only a transaction that has begun
 *      and holds at least one lock struct can hold one. If, in a status text that lists every
 *      transaction (not truncated), exactly one of the run's own connections other than the
 *      waiter has such a transaction, and the lock is on a table of the scratch database, that
 *      transaction holds it. This rests on one premise the database cannot confirm: that no
 *      connection outside the run holds locks on the scratch database's tables (its name is
 *      random and lockrepro drops it after the run). What can be checked is checked: with a
 *      connection of someone else in the scratch database, elimination is not used.
 *   c. information_schema (MariaDB), read only when (a) and (b) leave the holder open. Its views
 *      are a cache the server refreshes only after 100 ms without a read (lab-notes §3), so the
 *      copy is used only if it shows this very wait (the waiter's thread with the same requested
 *      lock id), i.e. it was taken after the wait began. It names blockers by trx id; a read-only
 *      transaction's id is 0 there, so such a blocker is named only when the copy itself shows
 *      exactly one read-only transaction with locks besides the waiter.
 * Holders once named stay named for as long as their transaction is open (locks are held until
 * the transaction ends, and while the waiter waits on the same lock nobody queues ahead of it):
 * a transaction that begins later does not make a named holder unknown again.
 *
 * Until a new wait's holders are complete it is held back, at most WITHHOLD_MAX_MS, so that its
 * first report names them and transcripts do not depend on when information_schema could be read.
 */
import {
  informationSchemaLockId,
  parseInnodbStatus,
  recordWriter,
  type InnodbStatus,
  type StatusTransaction,
  type WaitedLock,
} from './innodb-status.js';

/** One row of `SHOW FULL PROCESSLIST`. */
export interface Proc {
  id: number;
  /** The connection's current database. */
  db: string | null;
  command: string;
  state: string;
  info: string | null;
}

/** The rows of `SHOW FULL PROCESSLIST`, by connection id. */
export function parseProcessList(rows: readonly Record<string, unknown>[]): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const r of rows) {
    const id = Number(r.Id);
    out.set(id, {
      id,
      db: r.db === null || r.db === undefined ? null : String(r.db),
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
 * What the process list alone tells about the wanted connections: those in a GET_LOCK() wait
 * (their holders are asked with IS_USED_LOCK), those in another non-InnoDB lock wait (metadata and
 * table-level locks: holder unknown on MariaDB), and whether one runs a statement that may be in
 * an InnoDB wait (then the status text is read).
 */
export function processListWaits(
  procs: ReadonlyMap<number, Proc>,
  wanted: ReadonlySet<number>,
): { userLock: Proc[]; otherLock: number[]; needStatus: boolean } {
  const userLock: Proc[] = [];
  const otherLock: number[] = [];
  let needStatus = false;
  for (const p of procs.values()) {
    if (!wanted.has(p.id) || p.command === 'Sleep' || p.command === 'Killed') continue;
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
 * How long a new InnoDB wait whose holders are not yet all known is kept out of the answer.
 * Reporting it at once with an empty or partial list and completing the list ~100 ms later would
 * make the transcript depend on timing ("bob waits" and then "bob waits for alice"). After this
 * bound the wait is reported with what is known, so a server whose information_schema is read by
 * someone else all the time still gets its waits reported (with "holder unknown").
 */
export const WITHHOLD_MAX_MS = 250;

/** A holder: its connection and, when it has one, its transaction id. */
export interface HolderId {
  readonly threadId: number;
  readonly trxId: number | null;
}

/** What is remembered about one wait between calls. */
export interface WaitMemory {
  readonly firstSeen: number;
  readonly reported: boolean;
  readonly holders: readonly HolderId[];
  /** The holders are all known (not only some of them). */
  readonly complete: boolean;
}

/** Waits by key (thread / trx / lock); see {@link waitKey}. */
export type HolderMemory = ReadonlyMap<string, WaitMemory>;

/** The scratch database and every connection of the run in it (workers and the admin connection). */
export interface ScratchScope {
  schema: string;
  threads: ReadonlySet<number>;
}

/**
 * information_schema's view of the InnoDB locks, in ONE statement so that both parts come from
 * the same copy of the server's cache: every transaction (a read-only one has trx_id 0), and every
 * wait edge (requested lock → blocking trx).
 */
export const INFORMATION_SCHEMA_SQL = `SELECT 'trx' AS k, trx_id AS trx, trx_mysql_thread_id AS thread, trx_state AS state,
       trx_requested_lock_id AS lock_id, trx_lock_structs AS structs
  FROM information_schema.INNODB_TRX
UNION ALL
SELECT 'wait', blocking_trx_id, NULL, NULL, requested_lock_id, NULL
  FROM information_schema.INNODB_LOCK_WAITS`;

export interface InformationSchemaCopy {
  trx: { trxId: number; threadId: number; waiting: boolean; requestedLock: string | null; lockStructs: number }[];
  waits: { requestedLock: string; blockingTrx: number }[];
}

export function parseInformationSchema(rows: readonly Record<string, unknown>[]): InformationSchemaCopy {
  const copy: InformationSchemaCopy = { trx: [], waits: [] };
  for (const r of rows) {
    const lock = r.lock_id === null || r.lock_id === undefined ? null : String(r.lock_id);
    if (r.k === 'trx') {
      copy.trx.push({
        trxId: Number(r.trx),
        threadId: Number(r.thread),
        waiting: r.state === 'LOCK WAIT',
        requestedLock: lock,
        lockStructs: Number(r.structs ?? 0),
      });
    } else if (lock !== null) {
      copy.waits.push({ requestedLock: lock, blockingTrx: Number(r.trx) });
    }
  }
  return copy;
}

/** Everything one call read about InnoDB waits. */
export interface InnodbObservation {
  /** performance.now() of the reading, in ms. */
  now: number;
  /** The connections asked about. */
  wanted: ReadonlySet<number>;
  /** Connections already answered from the process list (not InnoDB waits). */
  answered: ReadonlySet<number>;
  /** `SHOW FULL PROCESSLIST`, all rows (to see who else is in the scratch database). */
  processlist: ReadonlyMap<number, Proc>;
  /** The `SHOW ENGINE INNODB STATUS` text. */
  status: string;
  /** information_schema, when it was read for this call. */
  informationSchema: InformationSchemaCopy | null;
  /** Whether information_schema lock views exist on this server (MariaDB). */
  informationSchemaAvailable: boolean;
  scope: ScratchScope | null;
  /** innodb_deadlock_detect is ON: a cycle of InnoDB waits is resolved at once by the server. */
  deadlockDetect: boolean;
}

export interface InnodbInference {
  /** Waiting connection → the connections that hold what it waits for ([] = holder unknown). */
  waits: Map<number, number[]>;
  /** What each waiting connection of `waits` waits for, from the same status text. */
  locks: Map<number, WaitedLock | null>;
  /** To pass to the next call. */
  memory: Map<string, WaitMemory>;
  /** A wait is held back until information_schema names its holders: read it if it is fresh. */
  wantInformationSchema: boolean;
}

/** Forget the waits of these connections, except those seen now. */
export function forgetWaitsOf(
  memory: HolderMemory,
  wanted: ReadonlySet<number>,
  seen: ReadonlySet<string> = new Set(),
): Map<string, WaitMemory> {
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
  const status = parseInnodbStatus(obs.status);
  const live = new LiveTransactions(status);
  const waits = new Map<number, number[]>();
  const locks = new Map<number, WaitedLock | null>();
  const next = new Map(memory);
  const seen = new Set<string>();
  let wantInformationSchema = false;
  const found: FoundWait[] = [];

  for (const tx of status.transactions) {
    if (!tx.lockWait || tx.threadId === null || !wanted.has(tx.threadId) || obs.answered.has(tx.threadId)) continue;
    const key = waitKey(tx);
    seen.add(key);
    const prev = memory.get(key);
    const holders = new Map<number, HolderId>();
    const add = (h: HolderId) => {
      if (h.threadId !== tx.threadId) holders.set(h.threadId, h);
    };
    for (const h of prev?.holders ?? []) if (live.holds(h)) add(h);
    let complete = prev?.complete ?? false;

    const writer = recordWriterOf(tx, live);
    if (writer) {
      add(writer);
      complete ||= soleWaiterOnRecord(tx, status.transactions);
    }
    if (!complete && obs.scope) {
      const only = onlyOtherHolder(tx, status, obs.scope, obs.processlist);
      if (only) {
        add(only);
        complete = true;
      }
    }
    if (!complete && obs.informationSchema) {
      const fromCopy = informationSchemaHolders(tx, obs.informationSchema);
      for (const h of fromCopy?.holders ?? []) if (live.holds(h)) add(h);
      complete = fromCopy?.complete ?? false;
    }

    const firstSeen = prev?.firstSeen ?? now;
    const ready = (prev?.reported ?? false) || complete || !obs.informationSchemaAvailable || now - firstSeen >= WITHHOLD_MAX_MS;
    found.push({ tx, key, firstSeen, wasReported: prev?.reported ?? false, ready, holders: [...holders.values()], complete });
  }

  // A new wait that closes a cycle of InnoDB waits is a deadlock InnoDB is resolving right now:
  // the waiting thread runs the deadlock check itself, just after its lock request became
  // visible (lock_wait() in lock0lock.cc), and rolls a member back at once. Reported as a wait,
  // it would make the transcript depend on whether the monitor looked in those microseconds.
  const edges = waitsForGraph(found, status, memory, live);
  for (const f of found) {
    let reported = f.ready;
    if (reported && !f.wasReported && obs.deadlockDetect && now - f.firstSeen < WITHHOLD_MAX_MS && closesCycle(f.tx.threadId!, edges)) {
      reported = false;
    }
    if (reported) {
      waits.set(
        f.tx.threadId!,
        f.holders.map((h) => h.threadId).sort((a, b) => a - b),
      );
      locks.set(f.tx.threadId!, f.tx.waitingFor);
    } else if (!f.ready && obs.informationSchema === null) wantInformationSchema = true;
    next.set(f.key, { firstSeen: f.firstSeen, reported, holders: f.holders, complete: f.complete });
  }
  return { waits, locks, memory: forgetWaitsOf(next, wanted, seen), wantInformationSchema };
}

interface FoundWait {
  tx: StatusTransaction;
  key: string;
  firstSeen: number;
  wasReported: boolean;
  /** Holders known well enough (or long enough waited for) to report the wait. */
  ready: boolean;
  holders: HolderId[];
  complete: boolean;
}

/**
 * Who waits for whom among InnoDB waits, by thread: this call's waits, and the other waiting
 * transactions of the status text as remembered from earlier calls (same wait, holders still open).
 */
function waitsForGraph(
  found: readonly FoundWait[],
  status: InnodbStatus,
  memory: HolderMemory,
  live: LiveTransactions,
): Map<number, number[]> {
  const edges = new Map<number, number[]>();
  for (const f of found)
    edges.set(
      f.tx.threadId!,
      f.holders.map((h) => h.threadId),
    );
  for (const tx of status.transactions) {
    if (!tx.lockWait || tx.threadId === null || edges.has(tx.threadId)) continue;
    const m = memory.get(waitKey(tx));
    if (m)
      edges.set(
        tx.threadId,
        m.holders.filter((h) => live.holds(h)).map((h) => h.threadId),
      );
  }
  return edges;
}

/** Whether following the waits-for edges from `thread`'s holders leads back to it. */
function closesCycle(thread: number, edges: ReadonlyMap<number, readonly number[]>): boolean {
  const seen = new Set<number>();
  const todo = [...(edges.get(thread) ?? [])];
  while (todo.length > 0) {
    const t = todo.pop()!;
    if (t === thread) return true;
    if (seen.has(t)) continue;
    seen.add(t);
    todo.push(...(edges.get(t) ?? []));
  }
  return false;
}

/** The transactions of one status text, for asking whether a holder still holds. */
class LiveTransactions {
  private readonly byTrx = new Map<number, StatusTransaction>();
  private readonly byThread = new Map<number, StatusTransaction>();

  constructor(status: InnodbStatus) {
    for (const t of status.transactions) {
      if (!t.active) continue;
      if (t.trxId !== null) this.byTrx.set(t.trxId, t);
      if (t.threadId !== null) this.byThread.set(t.threadId, t);
    }
  }

  /** The active transaction with this id, if any. */
  trx(trxId: number): StatusTransaction | undefined {
    return this.byTrx.get(trxId);
  }

  /**
   * Still holding: the same transaction is still open. With a trx id that is exact; a read-only
   * holder (no id) is known by its connection having an open transaction (it may since have got
   * an id by writing; it cannot have ended and begun another without the wait being asked about
   * in between, since lockrepro asks after every step).
   */
  holds(h: HolderId): boolean {
    if (h.trxId !== null) return this.byTrx.get(h.trxId)?.threadId === h.threadId;
    return this.byThread.has(h.threadId);
  }
}

/** (a) The record's writer, when it is another active transaction. */
function recordWriterOf(tx: StatusTransaction, live: LiveTransactions): HolderId | null {
  const trxId = tx.waitingFor ? recordWriter(tx.waitingFor) : null;
  if (trxId === null || trxId === tx.trxId) return null;
  const t = live.trx(trxId);
  if (!t || t.threadId === null || t.threadId === tx.threadId) return null;
  return { threadId: t.threadId, trxId };
}

/**
 * True when no other transaction waits for a lock on the same record. Then the record's active
 * writer is the only holder: its X lock rules out any other granted lock on the record (gap locks
 * aside, which do not block a record or next-key request), and no earlier waiter queues ahead.
 */
function soleWaiterOnRecord(tx: StatusTransaction, all: readonly StatusTransaction[]): boolean {
  const l = tx.waitingFor;
  if (l?.type !== 'record' || l.heapNo === null) return false;
  return !all.some((o) => {
    const m = o.waitingFor;
    return o !== tx && o.lockWait && m?.type === 'record' && m.space === l.space && m.page === l.page && m.heapNo === l.heapNo;
  });
}

/** (b) The holder by elimination (see the file comment), or null when it cannot be decided so. */
function onlyOtherHolder(
  tx: StatusTransaction,
  status: InnodbStatus,
  scope: ScratchScope,
  procs: ReadonlyMap<number, Proc>,
): HolderId | null {
  const table = tx.waitingFor?.table;
  if (!status.complete || !table?.startsWith(`\`${scope.schema}\`.`)) return null;
  for (const p of procs.values()) if (p.db === scope.schema && !scope.threads.has(p.id)) return null; // someone else is in there
  const candidates = status.transactions.filter(
    (o) => o.active && o.lockStructs > 0 && o.threadId !== null && o.threadId !== tx.threadId && scope.threads.has(o.threadId),
  );
  if (candidates.length !== 1) return null;
  const only = candidates[0]!;
  return { threadId: only.threadId!, trxId: only.trxId };
}

/**
 * (c) The blockers information_schema's copy shows for this very wait, or null when the copy does
 * not show it (taken before the wait began) or cannot tell it from another wait.
 */
function informationSchemaHolders(tx: StatusTransaction, copy: InformationSchemaCopy): { holders: HolderId[]; complete: boolean } | null {
  const id = informationSchemaLockId(tx);
  if (!id) return null;
  const matches = (lock: string | null) => lock !== null && ('exact' in id ? lock === id.exact : lock.startsWith(id.prefix));
  const mine = copy.trx.filter((t) => t.waiting && t.threadId === tx.threadId && matches(t.requestedLock));
  if (mine.length !== 1) return null;
  const requested = mine[0]!.requestedLock!;
  // Read-only waiters share trx id 0, so two of them waiting for one record share the lock id too.
  if (copy.trx.some((t) => t.waiting && t.threadId !== tx.threadId && t.requestedLock === requested)) return null;
  const blocking = copy.waits.filter((w) => w.requestedLock === requested);
  if (blocking.length === 0) return null; // a waiting transaction always has a blocker: a torn copy
  const holders: HolderId[] = [];
  let complete = true;
  for (const b of blocking) {
    if (b.blockingTrx > 0) {
      const owner = copy.trx.find((t) => t.trxId === b.blockingTrx);
      if (owner) holders.push({ threadId: owner.threadId, trxId: b.blockingTrx });
      else complete = false;
      continue;
    }
    // A read-only blocker: which one, the copy can tell only if it shows a single candidate.
    const readOnly = copy.trx.filter((t) => t.trxId === 0 && t.threadId !== tx.threadId && t.lockStructs > 0);
    if (readOnly.length === 1) holders.push({ threadId: readOnly[0]!.threadId, trxId: null });
    else complete = false;
  }
  return { holders, complete };
}

/** One wait: the waiting thread (first, up to the `/`), its transaction and the lock. */
export function waitKey(tx: StatusTransaction): string {
  const l = tx.waitingFor;
  const lock = !l ? '?' : l.type === 'record' ? `rec:${l.space}:${l.page}:${l.heapNo}:${l.mode}` : `table:${l.table}:${l.mode}`;
  return `${tx.threadId}/${tx.trxId}/${lock}`;
}
