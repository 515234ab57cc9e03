/**
 * The lock an InnoDB wait is on, in words that are the same every run (`steps[].lock`): from the
 * `RECORD LOCKS …` / `TABLE LOCK …` line of `SHOW ENGINE INNODB STATUS` and the record it prints.
 * Space ids, page and heap numbers and trx ids change from run to run, so they are left out; the
 * record's key is decoded from its hex fields when the index's column types are known.
 *
 * InnoDB stores an index record's key fields in a memcmp-comparable form (rem0cmp.cc, row0mysql.cc):
 * integers big-endian, the sign bit flipped for signed ones; CHAR / VARCHAR as the column's bytes
 * (CHAR padded with spaces). A clustered (PRIMARY) record starts with its key fields; a secondary
 * index record with the index's own columns. Heap number 1 is the supremum, the pseudo-record after
 * the last key of a page.
 */
import type { WaitLock } from '../../engine/dialect.js';
import type { LockKind } from '../../vocabulary.js';
import { describeLock, splitTableName, type WaitedLock } from './innodb-status.js';

/** One column of an index, in index order, as information_schema describes it. */
export interface KeyColumn {
  name: string;
  /** DATA_TYPE: `int`, `bigint`, `varchar`, ... */
  type: string;
  unsigned: boolean;
}

/** Index columns, in order, for `information_schema.STATISTICS` of one table and index. */
export const INDEX_COLUMNS_SQL = `SELECT s.COLUMN_NAME AS name, c.DATA_TYPE AS type, c.COLUMN_TYPE AS column_type
  FROM information_schema.STATISTICS s
  JOIN information_schema.COLUMNS c
    ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME
 WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.INDEX_NAME = ?
 ORDER BY s.SEQ_IN_INDEX`;

export function parseIndexColumns(rows: readonly Record<string, unknown>[]): KeyColumn[] {
  return rows.map((r) => ({
    name: String(r.name),
    type: String(r.type).toLowerCase(),
    unsigned: /unsigned/i.test(String(r.column_type)),
  }));
}

const INT_BYTES: Record<string, number> = { tinyint: 1, smallint: 2, mediumint: 3, int: 4, bigint: 8 };

/** One key field as text, or null when its type is not one decoded here. */
export function decodeKeyField(column: KeyColumn, field: { len: number; hex: string } | null): string | null {
  if (field === null) return 'NULL';
  const bytes = INT_BYTES[column.type];
  if (bytes !== undefined) {
    if (field.len !== bytes || field.hex.length !== bytes * 2) return null;
    const raw = BigInt(`0x${field.hex}`);
    const bits = BigInt(bytes * 8);
    return String(column.unsigned ? raw : BigInt.asIntN(Number(bits), raw ^ (1n << (bits - 1n))));
  }
  if (column.type === 'char' || column.type === 'varchar') {
    const text = Buffer.from(field.hex, 'hex').toString('utf8');
    return column.type === 'char' ? text.replace(/ +$/, '') : text;
  }
  return null;
}

/** `id=2`: the first fields of the printed record as the index's key, or null when not decodable. */
export function recordKey(lock: Extract<WaitedLock, { type: 'record' }>, columns: readonly KeyColumn[] | null): string | null {
  if (!columns || columns.length === 0 || lock.heapNo === null) return null;
  const parts: string[] = [];
  for (const [i, c] of columns.entries()) {
    const v = decodeKeyField(c, lock.fields[i] ?? null);
    if (v === null) return null;
    parts.push(`${c.name}=${v}`);
  }
  return parts.join(', ');
}

/** The lock of a `RECORD LOCKS` / `TABLE LOCK` line; `columns` are the index's, when known. */
export function innodbWaitLock(lock: WaitedLock, columns: readonly KeyColumn[] | null): WaitLock {
  const { table } = splitTableName(lock.table);
  const d = describeLock(lock);
  if (lock.type === 'table') return { kind: 'table', table, detail: `${d.mode} lock` };
  const supremum = lock.heapNo === 1;
  const key = supremum ? null : recordKey(lock, columns);
  const onIndex = lock.index === 'PRIMARY' || lock.index === 'GEN_CLUST_INDEX' ? '' : ` in index ${lock.index}`;
  const recordOnly = /but not gap/.test(lock.mode);
  const gapOnly = !recordOnly && /\bgap\b|insert intention/.test(lock.mode);
  const kind: LockKind = recordOnly || (!gapOnly && !supremum) ? 'row' : 'key-range';
  const where = supremum ? 'after the last key' : key ? key : '';
  let detail: string;
  if (kind === 'row') detail = recordOnly ? where : [where, 'and the gap before it'].filter(Boolean).join(', ');
  else if (/insert intention/.test(lock.mode))
    detail = supremum ? 'insert after the last key' : key ? `insert before ${key}` : 'insert into a gap';
  else if (supremum) detail = where;
  else detail = key ? `gap before ${key}` : 'a gap';
  return { kind, table, detail: `${detail}${onIndex}`.trim() };
}

/**
 * A wait the process list shows that is not InnoDB's: GET_LOCK() (`User lock`), with the lock
 * names when the statement tells them, and metadata or table-level locks (table not known there).
 */
export function processListWaitLock(state: string, userLockNames: readonly string[] | null): WaitLock {
  if (userLockNames !== null) return { kind: 'advisory', table: null, detail: userLockNames.join(', ') };
  // `Waiting for table metadata lock` → metadata lock (table); `Waiting for table level lock` → table.
  const what = state.replace(/^waiting for /i, '').toLowerCase();
  if (/metadata/.test(what)) return { kind: 'metadata', table: null, detail: what.replace(/ ?metadata lock$/, '') };
  if (/table/.test(what)) return { kind: 'table', table: null, detail: what };
  return { kind: 'other', table: null, detail: what };
}
