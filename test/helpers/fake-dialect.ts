/**
 * A fake dialect with a tiny lock manager, for unit tests of the scheduler's logic only (never as
 * evidence that a scenario works on a real database). Its SQL:
 *   BEGIN | COMMIT | ROLLBACK      transaction control; COMMIT/ROLLBACK release every lock
 *   LOCK <name>                    exclusive lock, waits while another session holds it; a wait
 *                                  that would close a cycle fails with a deadlock (the session
 *                                  closing the cycle is the victim), at once (like InnoDB) or,
 *                                  with `deadlockAfterPolls` n, when the n-th monitor poll has
 *                                  seen the cycle (like PostgreSQL's delayed check); the error
 *                                  carries a report of the cycle
 *   SELECT <n>                     returns one row { v: n } (or the bound parameter for `?`)
 *   FAIL <kind>                    fails with that error kind
 *   FAILONCE <kind>                fails the first time it runs in a scratch database, then succeeds
 *   HANG                           never finishes until cancelled
 * A cancel ends a HANG or a lock wait. `onQuery` sees every statement as it is sent.
 * `blind` plays a database that tells less: no deadlock report, and the monitor shows the step
 * closing a cycle waiting with its holder unknown (as InnoDB's status can under load).
 */
import {
  QueryError,
  type DatabaseInfo,
  type DeadlockReport,
  type LockWait,
  type Dialect,
  type QueryResult,
  type Scratch,
  type Session,
} from '../../src/engine/dialect.js';
import type { ErrorKind, IsolationLevel } from '../../src/vocabulary.js';

interface Waiter {
  lock: string;
  grant: () => void;
  reject: (e: Error) => void;
}

export class FakeDialect implements Dialect {
  readonly info: DatabaseInfo = { dialect: 'postgres', version: 'fake', embedded: false, settings: {} };
  readonly scratches: FakeScratch[] = [];
  onQuery: (sql: string) => void = () => undefined;
  constructor(
    private readonly deadlockAfterPolls = 0,
    private readonly blind = false,
  ) {}
  placeholder(): string {
    return '?';
  }
  async createScratch(label: string): Promise<Scratch> {
    const s = new FakeScratch(label, (sql) => this.onQuery(sql), this.deadlockAfterPolls, this.blind);
    this.scratches.push(s);
    return s;
  }
  async close(): Promise<void> {}
}

class FakeScratch implements Scratch {
  readonly executed: string[] = [];
  dropped = false;
  private nextId = 100;
  private readonly holders = new Map<string, number>();
  private readonly held = new Map<number, Set<string>>();
  private readonly waiting = new Map<number, Waiter>();
  private readonly hangs = new Map<number, (e: Error) => void>();
  private readonly failedOnce = new Set<string>();
  /** A cycle the "database" has yet to break: its closer, its report, polls that saw it. */
  private pendingDeadlock: { id: number; report: DeadlockReport; polls: number } | null = null;

  constructor(
    readonly name: string,
    private readonly onQuery: (sql: string) => void,
    private readonly deadlockAfterPolls: number,
    private readonly blind: boolean,
  ) {}

  async exec(sql: string): Promise<QueryResult> {
    this.executed.push(sql);
    return { rows: [{ v: 1 }], columns: ['v'], rowCount: 1, command: 'SELECT' };
  }

  async openSession(worker: string, _isolation: IsolationLevel): Promise<Session> {
    const id = this.nextId++;
    this.held.set(id, new Set());
    return { worker, backendId: id, query: (sql, params) => this.query(id, sql, params ?? []), close: async () => this.release(id) };
  }

  private async query(id: number, sql: string, params: readonly unknown[]): Promise<QueryResult> {
    this.onQuery(sql);
    const [verb, arg] = sql.trim().split(/\s+/);
    const none: QueryResult = { rows: [], columns: [], rowCount: null, command: verb ?? null };
    switch (verb) {
      case 'BEGIN':
        return none;
      case 'COMMIT':
      case 'ROLLBACK':
        this.release(id);
        return none;
      case 'SELECT':
        return { rows: [{ v: arg === '?' ? params[0] : Number(arg) }], columns: ['v'], rowCount: 1, command: 'SELECT' };
      case 'FAIL':
        this.release(id);
        throw new QueryError({ code: 'FAKE', kind: arg as ErrorKind, message: `fake ${arg}`, rolledBack: 'transaction' });
      case 'FAILONCE':
        if (this.failedOnce.has(sql)) return none;
        this.failedOnce.add(sql);
        this.release(id);
        throw new QueryError({ code: 'FAKE', kind: arg as ErrorKind, message: `fake ${arg}`, rolledBack: 'transaction' });
      case 'HANG':
        return new Promise((_, reject) => this.hangs.set(id, reject));
      case 'LOCK':
        return this.lock(id, arg!).then(() => none);
      default:
        throw new Error(`fake dialect: unknown SQL ${sql}`);
    }
  }

  private lock(id: number, lock: string): Promise<void> {
    const holder = this.holders.get(lock);
    if (holder === undefined || holder === id) {
      this.holders.set(lock, id);
      this.held.get(id)!.add(lock);
      return Promise.resolve();
    }
    // Would this wait close a cycle? Follow holder → what it waits for → its holder ...
    const waits: DeadlockReport['waits'] = [
      { waiter: id, holders: [holder], lock, waitLock: { kind: 'other', table: null, detail: lock } },
    ];
    for (let h: number | undefined = holder; h !== undefined; ) {
      if (h === id) {
        const report = { waits, text: waits.map((w) => `{{${w.waiter}}} waits for ${w.lock} held by {{${w.holders[0]}}}`).join('\n') };
        if (this.deadlockAfterPolls > 0) {
          this.pendingDeadlock = { id, report, polls: 0 };
          break;
        }
        this.release(id);
        return Promise.reject(this.deadlockError(report));
      }
      const w = this.waiting.get(h);
      h = w ? this.holders.get(w.lock) : undefined;
      if (w && h !== undefined) waits.push({ waiter: waits[waits.length - 1]!.holders[0]!, holders: [h], lock: w.lock });
    }
    return new Promise((resolve, reject) => this.waiting.set(id, { lock, grant: () => resolve(this.lock(id, lock)), reject }));
  }

  /** The delayed detector: after enough polls saw the cycle, its closer is the victim. */
  private detectDeadlock(): void {
    const d = this.pendingDeadlock;
    if (!d || ++d.polls < this.deadlockAfterPolls) return;
    this.pendingDeadlock = null;
    const w = this.waiting.get(d.id)!;
    this.waiting.delete(d.id);
    this.release(d.id);
    w.reject(this.deadlockError(d.report));
  }

  private release(id: number): void {
    const mine = this.held.get(id) ?? new Set();
    for (const l of mine) this.holders.delete(l);
    mine.clear();
    for (const [wid, w] of [...this.waiting]) {
      if (!this.holders.has(w.lock)) {
        this.waiting.delete(wid);
        w.grant();
      }
    }
  }

  async lockWaits(ids: readonly number[]): Promise<Map<number, LockWait>> {
    const out = new Map<number, LockWait>();
    queueMicrotask(() => this.detectDeadlock());
    for (const id of ids) {
      const w = this.waiting.get(id);
      if (w) {
        const holders = this.blind && this.pendingDeadlock?.id === id ? [] : [this.holders.get(w.lock)!];
        out.set(id, { holders, lock: { kind: 'other', table: null, detail: w.lock } });
      }
    }
    return out;
  }

  private deadlockError(report: DeadlockReport): QueryError {
    const deadlock = this.blind ? undefined : report;
    return new QueryError({ code: 'FAKE-DL', kind: 'deadlock', message: 'fake deadlock', rolledBack: 'transaction', deadlock });
  }

  async cancel(id: number): Promise<void> {
    const reject = this.hangs.get(id) ?? this.waiting.get(id)?.reject;
    this.hangs.delete(id);
    this.waiting.delete(id);
    reject?.(new QueryError({ code: 'FAKE-CANCEL', kind: 'timeout', message: 'cancelled', rolledBack: 'transaction' }));
  }

  async terminate(id: number): Promise<void> {
    await this.cancel(id);
  }

  async drop(): Promise<void> {
    this.dropped = true;
  }
}
