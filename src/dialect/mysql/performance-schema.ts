/**
 * MySQL 8: performance_schema. NOT TESTED (MySQL 8 cannot run here); from the MySQL 8.0 manual:
 * data_lock_waits(REQUESTING_THREAD_ID, BLOCKING_THREAD_ID), metadata_locks(OBJECT_TYPE,
 * OBJECT_SCHEMA, OBJECT_NAME, LOCK_TYPE, LOCK_STATUS, OWNER_THREAD_ID), threads(THREAD_ID,
 * PROCESSLIST_ID), all live (no cache), in one query; plus `SHOW FULL PROCESSLIST` for lock-wait
 * states the instruments may not cover.
 */
import type { MonitorQuery } from './connection.js';
import { isLockWaitState, parseProcessList } from './holders.js';
import type { LockWait, WaitLock } from '../../engine/dialect.js';
import type { WaitedLock } from './innodb-status.js';
import { innodbWaitLock } from './lock-names.js';
import type { LockWaitSource } from './lock-waits.js';

export class PerformanceSchemaLockWaits implements LockWaitSource {
  constructor(private readonly q: MonitorQuery) {}

  /** The record's key is not decoded here (index columns unread): table, index and gap only. */
  async describe(lock: WaitedLock): Promise<WaitLock> {
    return innodbWaitLock(lock, null);
  }

  /** Holders only: which lock each waits for is not read from performance_schema yet (lock null). */
  async waits(backendIds: readonly number[]): Promise<Map<number, LockWait>> {
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
    const procs = parseProcessList(await this.q('SHOW FULL PROCESSLIST'));
    for (const p of procs.values()) {
      if (ids.includes(p.id) && p.command !== 'Sleep' && isLockWaitState(p.state) && !result.has(p.id)) result.set(p.id, new Set());
    }
    return new Map([...result].map(([k, v]) => [k, { holders: [...v].sort((a, b) => a - b), lock: null }]));
  }
}

/**
 * Metadata lock compatibility for object locks (tables etc.), from the matrix in MySQL's mdl.cc:
 * does a request of type `want` conflict with a granted lock of type `held`? Unknown types (scoped
 * locks) count as conflicting only when either side is EXCLUSIVE.
 */
const MDL_ORDER = [
  'SHARED',
  'SHARED_HIGH_PRIO',
  'SHARED_READ',
  'SHARED_WRITE',
  'SHARED_WRITE_LOW_PRIO',
  'SHARED_UPGRADABLE',
  'SHARED_READ_ONLY',
  'SHARED_NO_WRITE',
  'SHARED_NO_READ_WRITE',
  'EXCLUSIVE',
];
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
