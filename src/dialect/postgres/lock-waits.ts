/**
 * Who waits for whom on PostgreSQL, and for which lock, in one poll of the lock manager.
 *
 * pg_blocking_pids names the holders. The lock comes from pg_locks, the waiter's own rows:
 * measured on PostgreSQL 15 with one session's UPDATE waiting for another's uncommitted UPDATE of
 * the same row, the waiter has one ungranted lock, `transactionid` ShareLock on the holder's xid,
 * and a *granted* `tuple` ExclusiveLock on the row (relation, page, tuple): PostgreSQL locks the
 * tuple, then waits for the transaction that changed it to end (heap_update / heap_lock_tuple). A
 * second waiter on the same row waits on that tuple lock instead (ungranted). So a row wait is
 * found by the waiter's tuple lock, whatever is granted; its key is read by ctid from the old row
 * version, which every other snapshot still sees while the holder's transaction is open.
 */
import type pg from 'pg';
import type { LockWait, WaitLock } from '../../engine/dialect.js';
import { quoteIdent, run } from './client.js';

/**
 * One row per waiting backend (those pg_blocking_pids names a blocker for): the blockers, the
 * ungranted lock, the tuple lock if any with its table and primary key columns, and the ordinary
 * tables the backend has locked (for a wait on a transaction without a tuple lock, such as an
 * INSERT waiting for an uncommitted duplicate key). Values are text (see client.ts `types`).
 */
const WAITS_SQL = `WITH waiter AS (
  SELECT pid, (SELECT string_agg(b::text, ',') FROM unnest(pg_blocking_pids(pid)) AS b) AS blockers
    FROM unnest($1::int[]) AS pid
)
SELECT w.pid, w.blockers, u.locktype, u.mode, u.classid, u.objid, u.objsubid,
       c.oid::regclass::text AS rel, c.relname, t.page, t.tuple, u.transactionid,
       (SELECT array_to_json(array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum)))::text
          FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
         WHERE i.indrelid = c.oid AND i.indisprimary) AS key_columns,
       (SELECT array_to_json(array_agg(DISTINCT r.relname))::text
          FROM pg_locks o JOIN pg_class r ON r.oid = o.relation
         WHERE o.pid = w.pid AND o.locktype = 'relation' AND o.granted AND r.relkind IN ('r', 'p')
           AND r.relnamespace <> 'pg_catalog'::regnamespace) AS tables
  FROM waiter w
  LEFT JOIN LATERAL (SELECT * FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted LIMIT 1) u ON true
  LEFT JOIN LATERAL (SELECT * FROM pg_locks l WHERE l.pid = w.pid AND l.locktype = 'tuple' LIMIT 1) t ON true
  LEFT JOIN pg_class c ON c.oid = coalesce(t.relation, u.relation)
 WHERE w.blockers IS NOT NULL`;

type Row = Record<string, unknown>;

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/**
 * The lock a waiter waits for, from its row of {@link WAITS_SQL} and the row key (`id=2`) when
 * one was read. Pure, so every kind is tested without a server.
 */
export function describePgWait(r: Row, key: string | null): WaitLock | null {
  const locktype = text(r.locktype);
  const table = text(r.relname);
  if (r.page !== null && r.page !== undefined && table) return { kind: 'row', table, detail: key ?? '' };
  switch (locktype) {
    case null:
      return null;
    case 'relation':
      return { kind: 'table', table, detail: text(r.mode) ?? '' };
    case 'advisory':
      return { kind: 'advisory', table: null, detail: advisoryKey(r) };
    case 'transactionid':
    case 'virtualxid': {
      // No tuple lock: the waiter waits for another transaction to end, as an INSERT does for an
      // uncommitted duplicate key. The table is named when the waiter has locked exactly one.
      const tables = JSON.parse(text(r.tables) ?? 'null') as string[] | null;
      return { kind: 'transaction', table: tables?.length === 1 ? tables[0]! : null, detail: 'until the other transaction ends' };
    }
    default:
      return { kind: 'other', table, detail: `${locktype} ${text(r.mode) ?? ''}`.trim() };
  }
}

/**
 * pg_advisory_lock(bigint) shows as classid = high 32 bits, objid = low 32 bits, objsubid 1;
 * pg_advisory_lock(int, int) as classid, objid, objsubid 2 (PostgreSQL's pg_locks documentation).
 */
function advisoryKey(r: Row): string {
  const hi = BigInt(text(r.classid) ?? '0');
  const lo = BigInt(text(r.objid) ?? '0');
  if (text(r.objsubid) === '2') return `keys ${hi}, ${lo}`;
  return `key ${BigInt.asIntN(64, (hi << 32n) | lo)}`;
}

/**
 * The waits of these backends, with their locks. Row keys are read once per wait (a wait is the
 * waiter, its tuple and the transaction it waits for) and kept while it lasts.
 */
export class PgLockWaits {
  private keys = new Map<string, string | null>();
  /** Backends the last poll saw blocked with no ungranted lock of their own. */
  private lockless = new Set<number>();

  constructor(private readonly admin: pg.Client) {}

  async waits(backendIds: readonly number[]): Promise<Map<number, LockWait>> {
    const res = await run(this.admin, WAITS_SQL, [backendIds]);
    const waits = new Map<number, LockWait>();
    const keys = new Map<string, string | null>();
    const lockless = new Set<number>();
    for (const r of res.rows) {
      // pg_blocking_pids and pg_locks are two reads of the lock manager: a wait that began
      // between them has blockers and no lock yet. It is left to the next poll, so that a wait is
      // reported with its lock. Twice in a row is another thing (a parallel query's leader, whose
      // workers do the waiting): reported then, lock unknown.
      if (r.locktype === null && !lockless.has(Number(r.pid)) && !this.lockless.has(Number(r.pid))) {
        lockless.add(Number(r.pid));
        continue;
      }
      const holders = String(r.blockers)
        .split(',')
        .map(Number)
        .filter((n) => Number.isSafeInteger(n));
      let key: string | null = null;
      if (r.page !== null && r.page !== undefined && r.rel) {
        const id = `${r.pid}:${r.rel}:${r.page}:${r.tuple}:${r.transactionid ?? r.locktype}`;
        key = this.keys.has(id) ? this.keys.get(id)! : await this.readKey(r);
        keys.set(id, key);
      }
      waits.set(Number(r.pid), { holders, lock: describePgWait(r, key) });
    }
    this.keys = keys;
    this.lockless = lockless;
    return waits;
  }

  /**
   * The lock a deadlock victim waited for, from its error, in the words the monitor gives: the
   * victim's wait may end before any poll sees it, and its transcript must read the same either
   * way. The row comes from the error's context (`while updating tuple (0,1) in relation
   * "account"`; its old version is still there, the holder has not committed), a table or
   * advisory lock from the detail's line for the victim (`ExclusiveLock on relation auth_user`).
   */
  async victimLock(detailLock: string | null, context: string | undefined): Promise<WaitLock | null> {
    const tuple = /while (?:updating|locking|deleting) tuple \((\d+),(\d+)\) in relation "((?:[^"]|"")+)"/.exec(context ?? '');
    if (tuple) {
      const r = await this.relation(tuple[3]!);
      if (!r) return null;
      const row = { ...r, page: tuple[1], tuple: tuple[2] };
      return describePgWait(row, await this.readKey(row));
    }
    const index = /while (?:inserting index tuple|checking uniqueness of tuple) \(\d+,\d+\) in relation "((?:[^"]|"")+)"/.exec(
      context ?? '',
    );
    const lock = detailLock ?? '';
    if (/ on \{\{\d+\}\}'s transaction$/.test(lock)) {
      const table = index ? ((await this.relation(index[1]!))?.table ?? null) : null;
      return describePgWait({ locktype: 'transactionid', tables: JSON.stringify(table === null ? [] : [table]) }, null);
    }
    const relation = /^(\w+) on relation (.+)$/.exec(lock);
    if (relation) return { kind: 'table', table: relation[2]!.replace(/^"(.*)"$/, '$1').replace(/""/g, '"'), detail: relation[1]! };
    const advisory = /^\w+ on advisory lock \[\d+,(\d+),(\d+),(\d+)\]$/.exec(lock);
    if (advisory) return describePgWait({ locktype: 'advisory', classid: advisory[1], objid: advisory[2], objsubid: advisory[3] }, null);
    return null;
  }

  /** A relation named in an error's context: its name to query by, its primary key, and its table (an index's). */
  private async relation(name: string): Promise<Row | null> {
    try {
      const res = await run(
        this.admin,
        `SELECT c.oid::regclass::text AS rel, c.relname, coalesce(t.relname, c.relname) AS table,
                (SELECT array_to_json(array_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum)))::text
                   FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                  WHERE i.indrelid = c.oid AND i.indisprimary) AS key_columns
           FROM pg_class c LEFT JOIN pg_index x ON x.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = x.indrelid
          WHERE c.oid = to_regclass(quote_ident($1))`,
        [name.replace(/""/g, '"')],
      );
      return res.rows[0] ?? null;
    } catch {
      return null;
    }
  }

  /** `id=2`: the primary key of the row version at the tuple's ctid, or null when it cannot be read. */
  private async readKey(r: Row): Promise<string | null> {
    const columns = JSON.parse(text(r.key_columns) ?? 'null') as string[] | null;
    if (!columns || columns.length === 0) return null;
    const page = Number(r.page);
    const tuple = Number(r.tuple);
    if (!Number.isSafeInteger(page) || !Number.isSafeInteger(tuple)) return null;
    const list = columns.map((c, i) => `${quoteIdent(c)}::text AS k${i}`).join(', ');
    try {
      // The read takes an AccessShareLock on the table: bounded, so that a queued ALTER TABLE
      // cannot hold the monitor (SET LOCAL lasts for this implicit transaction only). Once per
      // wait, and short; a worker's LOCK TABLE … ACCESS EXCLUSIVE sent in that instant would wait
      // for the monitor and be told as a wait with its holder unknown (rare, and ends at once).
      const got = await run(
        this.admin,
        `SET LOCAL lock_timeout = 100; SELECT ${list} FROM ${r.rel} WHERE ctid = '(${page},${tuple})'::tid`,
      );
      const row = got.rows[0];
      return row ? columns.map((c, i) => `${c}=${text(row[`k${i}`])}`).join(', ') : null;
    } catch {
      return null;
    }
  }
}
