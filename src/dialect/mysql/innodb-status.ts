/**
 * Parse the TRANSACTIONS section of `SHOW ENGINE INNODB STATUS`.
 *
 * Why this text and not information_schema: on MariaDB the INNODB_TRX / INNODB_LOCKS /
 * INNODB_LOCK_WAITS views are served from a cache that is refreshed only after more than 100 ms
 * without any read of it (CACHE_MIN_IDLE_TIME_NS in trx0i_s.cc), so polled every few ms they never
 * show a new wait and can keep showing an old one (lab-notes §3). The status text is built on
 * demand from the live transaction list, costs about 0.15–0.3 ms, and needs the PROCESS privilege.
 *
 * Each transaction block looks like this (MariaDB 10.11; MySQL 8 prints `MySQL thread id`):
 *
 *   ---TRANSACTION 24, ACTIVE 1 sec starting index read
 *   mysql tables in use 1, locked 1
 *   LOCK WAIT 2 lock struct(s), heap size 1128, 1 row lock(s)
 *   MariaDB thread id 11, OS thread handle 131452271761088, query id 23 127.0.0.1 root Updating
 *   UPDATE t SET v=v+1 WHERE id=1                      ← the statement text, any number of lines
 *   ------- TRX HAS BEEN WAITING 51420 us FOR THIS LOCK TO BE GRANTED:
 *   RECORD LOCKS space id 5 page no 3 n bits 320 index PRIMARY of table `test`.`t` trx id 24 lock_mode X locks rec but not gap waiting
 *   Record lock, heap no 2 PHYSICAL RECORD: n_fields 4; compact format; info bits 0
 *    0: len 4; hex 80000001; asc     ;;
 *    1: len 6; hex 000000000017; asc       ;;         ← DB_TRX_ID of the clustered index record
 *    2: len 7; hex 06000001360110; asc     6  ;;      ← DB_ROLL_PTR
 *    3: len 4; hex 80000002; asc     ;;
 *
 *   ------------------
 *
 * A transaction that has written nothing has no id: MariaDB prints `(0x7feb0c313b80)`, its
 * address, in place of the number (and `trx id 0` in its lock lines). The `N lock struct(s)` line
 * is printed only when the transaction has locks (or a large lock heap), so a missing line means
 * none. Past 1 MB the server cuts transactions out of the middle of the list and says
 * `... truncated...` (ha_innodb.cc): then the list is not the whole truth.
 *
 * Without `innodb_status_output_locks=ON` (a global setting lockrepro does not touch) the locks a
 * transaction *holds* are not listed, only their count; so the holder has to be found another way
 * (holders.ts). The one fresh clue in the text is the record's DB_TRX_ID: if it names another
 * transaction that is still active, that transaction has an uncommitted change of the record and
 * so holds an exclusive lock on it.
 */

/** A lock as printed in a `RECORD LOCKS ...` or `TABLE LOCK ...` line. */
export type WaitedLock =
  | {
      type: 'record';
      space: number;
      page: number;
      /** Heap number of the record waited for (the one record printed), null if not printed. */
      heapNo: number | null;
      index: string;
      /** As printed: `` `db`.`t` ``. */
      table: string;
      /** The rest of the line: `lock_mode X locks rec but not gap waiting`, `... gap before rec insert intention waiting`. */
      mode: string;
      /** The `trx id` the line names (the lock's owner; 0 for a transaction without an id). */
      trxId: number;
      /** Hex of each field of the printed record (null for SQL NULL), by field number. */
      fields: ({ len: number; hex: string } | null)[];
    }
  | { type: 'table'; table: string; mode: string; trxId: number };

/** How InnoDB prints a transaction's state. */
export type TrxState = 'not started' | 'active' | 'prepared' | 'committed in memory' | 'other';

export interface StatusTransaction {
  /** InnoDB transaction id; null for a transaction without one (printed as (0x...) on MariaDB). */
  trxId: number | null;
  /** The connection (thread) id, = CONNECTION_ID(); null when not printed. */
  threadId: number | null;
  state: TrxState;
  /**
   * The transaction has begun and its locks are not yet released: every state but `not started`
   * (MariaDB prints a read-only one, even one that holds shared locks, as `(0x…), ACTIVE`; MySQL 8
   * numbers `not started` ones).
   */
  active: boolean;
  /** `N lock struct(s)`: 0 means it holds no lock at all. */
  lockStructs: number;
  lockWait: boolean;
  /** What it waits for, when in LOCK WAIT. */
  waitingFor: WaitedLock | null;
}

export interface InnodbStatus {
  transactions: StatusTransaction[];
  /** The list is all there: the section was found and the server did not truncate it. */
  complete: boolean;
}

const SECTION_START = 'LIST OF TRANSACTIONS FOR EACH SESSION:';
const TRUNCATED = '\n... truncated...\n';
const HEADER = /^---TRANSACTION (?:(\d+)|\([^)]*\))?, (.*)$/;
const THREAD = /^(?:MariaDB|MySQL) thread id (\d+),/;
const LOCK_STRUCTS = /^(?:LOCK WAIT )?(\d+) lock struct\(s\)/;
const WAIT_HEADER = /^------- TRX HAS BEEN WAITING .* FOR THIS LOCK TO BE GRANTED:$/;
const RECORD_LOCKS = /^RECORD LOCKS space id (\d+) page no (\d+) n bits \d+ index (.+?) of table (.+?) trx id (\d+) (.*)$/;
const TABLE_LOCK = /^TABLE LOCK table (.+?) trx id (\d+) (?:lock mode )?(.*)$/;
const RECORD = /^Record lock, heap no (\d+)\b/;
const FIELD = /^\s*(\d+): (?:len (\d+); hex ([0-9a-f]*)|SQL NULL)/;

/** The transactions listed in a `SHOW ENGINE INNODB STATUS` text, in the order printed. */
export function parseInnodbStatus(status: string): InnodbStatus {
  const start = status.indexOf(SECTION_START);
  if (start < 0) return { transactions: [], complete: false };
  // The section ends where the next one (FILE I/O) begins; a statement's text cannot fake this
  // because it is matched on a whole line of dashes followed by the heading.
  let end = status.indexOf('\n--------\nFILE I/O\n', start);
  if (end < 0) end = status.length;
  const lines = status.slice(start + SECTION_START.length, end).split('\n');

  const out: StatusTransaction[] = [];
  let i = 0;
  while (i < lines.length) {
    const header = HEADER.exec(lines[i]!);
    if (!header) {
      i++;
      continue;
    }
    // The block runs to the next transaction header.
    let j = i + 1;
    while (j < lines.length && !HEADER.test(lines[j]!)) j++;
    out.push(parseBlock(header[1], stateOf(header[2]!), lines.slice(i + 1, j)));
    i = j;
  }
  // A statement's text could hold the marker too; then the list is only distrusted for nothing.
  return { transactions: out, complete: !status.includes(TRUNCATED) };
}

/** The state words after the id: `ACTIVE 3 sec ...`, `ACTIVE (PREPARED) 3 sec`, `not started`, ... */
export function stateOf(rest: string): TrxState {
  if (rest.startsWith('not started')) return 'not started';
  if (rest.startsWith('ACTIVE (PREPARED)')) return 'prepared';
  if (rest.startsWith('ACTIVE')) return 'active';
  if (rest.startsWith('COMMITTED IN MEMORY')) return 'committed in memory';
  return 'other';
}

function parseBlock(trxId: string | undefined, state: TrxState, lines: string[]): StatusTransaction {
  const tx: StatusTransaction = {
    trxId: trxId === undefined ? null : Number(trxId),
    threadId: null,
    state,
    active: state !== 'not started',
    lockStructs: 0,
    lockWait: false,
    waitingFor: null,
  };
  // Lines before the thread line are InnoDB's own (`mysql tables in use`, `LOCK WAIT ...`); the
  // statement text comes after it, so only the former are trusted.
  let k = 0;
  for (; k < lines.length; k++) {
    const line = lines[k]!;
    const thread = THREAD.exec(line);
    if (thread) {
      tx.threadId = Number(thread[1]);
      k++;
      break;
    }
    if (line.startsWith('LOCK WAIT ')) tx.lockWait = true;
    const structs = LOCK_STRUCTS.exec(line);
    if (structs) tx.lockStructs = Number(structs[1]);
  }
  if (!tx.lockWait) return tx;
  // The waited-for lock is printed after the statement text; search from the end of the block so
  // that statement text cannot be mistaken for it.
  let w = -1;
  for (let m = lines.length - 1; m >= k; m--) {
    if (WAIT_HEADER.test(lines[m]!)) {
      w = m;
      break;
    }
  }
  if (w >= 0) tx.waitingFor = parseLock(lines, w + 1).lock;
  return tx;
}

/**
 * The lock printed at `lines[at]` (a `RECORD LOCKS` or `TABLE LOCK` line, and for a record lock
 * the first record after it), and the index of the first line after it.
 */
export function parseLock(lines: readonly string[], at: number): { lock: WaitedLock | null; next: number } {
  const first = lines[at] ?? '';
  const rec = RECORD_LOCKS.exec(first);
  if (rec) {
    const lock: WaitedLock = {
      type: 'record',
      space: Number(rec[1]),
      page: Number(rec[2]),
      index: rec[3]!,
      table: rec[4]!,
      trxId: Number(rec[5]),
      mode: rec[6]!,
      heapNo: null,
      fields: [],
    };
    let records = 0;
    let m = at + 1;
    for (; m < lines.length; m++) {
      const line = lines[m]!;
      if (line.startsWith('------------------') || line.startsWith('*** ') || RECORD_LOCKS.test(line) || TABLE_LOCK.test(line)) break;
      const r = RECORD.exec(line);
      if (r) {
        // Only the first record (a waiting lock has one; a held one may list more).
        if (++records === 1) lock.heapNo = Number(r[1]);
        continue;
      }
      const f = FIELD.exec(line);
      if (f && records === 1) lock.fields[Number(f[1])] = f[2] === undefined ? null : { len: Number(f[2]), hex: f[3] ?? '' };
    }
    return { lock, next: m };
  }
  const tab = TABLE_LOCK.exec(first);
  if (tab) return { lock: { type: 'table', table: tab[1]!, trxId: Number(tab[2]), mode: tab[3]! }, next: at + 1 };
  return { lock: null, next: at + 1 };
}

/** `` `db`.`t` `` (maybe followed by a partition comment) → its schema and table names. */
export function splitTableName(printed: string): { schema: string | null; table: string } {
  const m = /^`((?:[^`]|``)*)`\.`((?:[^`]|``)*)`/.exec(printed);
  if (!m) return { schema: null, table: printed };
  return { schema: m[1]!.replace(/``/g, '`'), table: m[2]!.replace(/``/g, '`') };
}

/** What a lock line says, in words: mode (`X`, `S`, `IX`, `AUTO-INC`, ...) and the rest. */
export function describeLock(lock: WaitedLock): {
  table: string;
  schema: string | null;
  index: string | null;
  mode: string;
  detail: string;
} {
  const { schema, table } = splitTableName(lock.table);
  const words = lock.mode.replace(/\s*waiting$/, '');
  if (lock.type === 'table') return { table, schema, index: null, mode: words, detail: 'table lock' };
  const m = /^lock[_ ]mode (\S+)(?: (.*))?$/.exec(words);
  const mode = m?.[1] ?? words;
  const rest = m?.[2] ?? '';
  // No qualifier: a next-key lock, the record and the gap before it.
  const detail = rest === '' ? 'record and the gap before it (next-key)' : rest.replace(/^locks /, '');
  return { table, schema, index: lock.index, mode, detail };
}

/**
 * The transaction id that a waited-for record itself names as its last writer (DB_TRX_ID), for a
 * record lock on a clustered index (PRIMARY, or GEN_CLUST_INDEX for tables without a key), and only
 * for waits on the record itself: a gap or insert-intention wait conflicts with gap locks, which
 * the record's writer need not hold. The clustered record is (key fields..., DB_TRX_ID 6 bytes,
 * DB_ROLL_PTR 7 bytes, other columns...); the number of key fields is not printed, so the field
 * is found as the only 6-byte field followed by a 7-byte one. Where two fields look like that (a
 * BINARY(6) key column before a 7-byte one, say), which is DB_TRX_ID cannot be told: null.
 */
export function recordWriter(lock: WaitedLock): number | null {
  if (lock.type !== 'record') return null;
  if (lock.index !== 'PRIMARY' && lock.index !== 'GEN_CLUST_INDEX') return null;
  if (/\bgap\b|insert intention/.test(lock.mode) && !/but not gap/.test(lock.mode)) return null;
  const ids: number[] = [];
  for (let n = 0; n + 1 < lock.fields.length; n++) {
    const f = lock.fields[n];
    const next = lock.fields[n + 1];
    if (f && next && f.len === 6 && next.len === 7 && f.hex.length === 12) ids.push(Number.parseInt(f.hex, 16));
  }
  if (ids.length !== 1) return null;
  const id = ids[0]!;
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

/**
 * The lock id information_schema.INNODB_LOCKS uses for this wait on MariaDB: `trx:space:page:heap`
 * for a record lock, with trx 0 for a transaction without an id (checked on 10.11.19), and
 * `trx:table_id` for a table lock (the table id is not in the status text, so only the `trx:`
 * prefix can be compared then).
 */
export function informationSchemaLockId(tx: StatusTransaction): { exact: string } | { prefix: string } | null {
  const lock = tx.waitingFor;
  if (!lock) return null;
  const trx = tx.trxId ?? 0;
  if (lock.type === 'table') return { prefix: `${trx}:` };
  if (lock.heapNo === null) return null;
  return { exact: `${trx}:${lock.space}:${lock.page}:${lock.heapNo}` };
}
