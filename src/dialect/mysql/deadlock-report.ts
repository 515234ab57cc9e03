/**
 * Parse the `LATEST DETECTED DEADLOCK` section of `SHOW ENGINE INNODB STATUS`: InnoDB's own
 * account of the last deadlock it resolved, server-wide (only the latest is kept). MariaDB 10.11
 * prints, for each transaction of the cycle in turn:
 *
 *   *** (1) TRANSACTION:
 *   TRANSACTION 8555, ACTIVE 0 sec starting index read
 *   ...
 *   MariaDB thread id 2268, OS thread handle ..., query id 25691 127.0.0.1 root Updating
 *   UPDATE t SET v=v+1 WHERE id=2                    ← the statement, any number of lines
 *   *** WAITING FOR THIS LOCK TO BE GRANTED:
 *   RECORD LOCKS space id 627 page no 3 n bits 320 index PRIMARY of table `db`.`t` trx id 8555 lock_mode X locks rec but not gap waiting
 *   ...
 *   *** CONFLICTING WITH:
 *   RECORD LOCKS ... trx id 8556 lock_mode X locks rec but not gap      ← held (or queued ahead) by 8556
 *
 * and then `*** WE ROLL BACK TRANSACTION (n)`. The conflicting locks may include the waiter's own
 * (an S lock it holds while it asks for X); those are left out. MySQL 8 prints
 * `*** (n) HOLDS THE LOCK(S):` and `*** (n) WAITING FOR THIS LOCK TO BE GRANTED:` instead (from its
 * manual; untested here): there, who waits for whom is found by matching the waited-for record or
 * table with the locks each other transaction holds.
 */
import { describeLock, parseLock, type WaitedLock } from './innodb-status.js';

export interface DeadlockLock {
  /** Table name without its database (the scratch database's name differs every run). */
  table: string;
  /** Index of a record lock; null for a table lock. */
  index: string | null;
  /** InnoDB's lock mode: `X`, `S`, `IX`, `AUTO-INC`, ... */
  mode: string;
  /** What of the record it covers, in InnoDB's words: `rec but not gap`, `gap before rec insert intention`, ... */
  detail: string;
}

export interface DeadlockMember {
  threadId: number;
  /** The member it waits for, when the report names it (the owner of a conflicting lock). */
  waitsForThreadId?: number;
  /** The lock it was waiting for. */
  lock: DeadlockLock | null;
  /** The same lock as printed (with the record's fields, for its key). */
  waited?: WaitedLock | null;
}

export interface DeadlockReport {
  /** The connection whose transaction InnoDB rolled back. */
  victimThreadId: number | null;
  /** The transactions of the cycle, in the order InnoDB printed them. */
  cycle: DeadlockMember[];
  /** When InnoDB detected it, as it printed it (`2026-12-01 02:35:01`); tells one deadlock from the next. */
  detectedAt: string | null;
  /** The section as the server printed it (thread ids, trx ids, database names and all). */
  text: string;
}

const START = /\n-+\nLATEST DETECTED DEADLOCK\n-+\n/;
const END = '\n------------\nTRANSACTIONS\n------------\n';
const MEMBER = /^\*\*\* \((\d+)\) TRANSACTION:$/;
const TRX = /^TRANSACTION (?:(\d+)|\([^)]*\)), /;
const THREAD = /^(?:MariaDB|MySQL) thread id (\d+),/;
const WAITING = /^\*\*\* (?:\(\d+\) )?WAITING FOR THIS LOCK TO BE GRANTED:$/;
const CONFLICTING = /^\*\*\* CONFLICTING WITH:$/;
const HOLDS = /^\*\*\* (?:\(\d+\) )?HOLDS THE LOCK\(S\):$/;
const VICTIM = /^\*\*\* WE ROLL BACK TRANSACTION \((\d+)\)$/;

interface Parsed {
  n: number;
  threadId: number | null;
  trxId: number | null;
  waiting: WaitedLock | null;
  conflicting: WaitedLock[];
  holds: WaitedLock[];
}

/** The latest deadlock in a status text, or null when the server has not reported one. */
export function parseLatestDeadlock(status: string): DeadlockReport | null {
  const start = START.exec(status);
  if (!start) return null;
  const from = start.index + start[0].length;
  let to = status.indexOf(END, from);
  if (to < 0) to = status.length;
  const text = status.slice(from, to).replace(/\s+$/, '');
  const lines = text.split('\n');
  const detectedAt = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\b/.exec(lines[0] ?? '')?.[1] ?? null;

  const members: Parsed[] = [];
  let victimN: number | null = null;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const victim = VICTIM.exec(line);
    if (victim) victimN = Number(victim[1]);
    const m = MEMBER.exec(line);
    if (!m) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < lines.length && !MEMBER.test(lines[j]!) && !VICTIM.test(lines[j]!)) j++;
    members.push(parseMember(Number(m[1]), lines.slice(i + 1, j)));
    i = j;
  }
  if (members.length === 0) return null;

  const threadOfTrx = new Map<number, number>();
  for (const p of members) if (p.trxId !== null && p.threadId !== null) threadOfTrx.set(p.trxId, p.threadId);
  const cycle: DeadlockMember[] = [];
  for (const p of members) {
    if (p.threadId === null) continue;
    const member: DeadlockMember = { threadId: p.threadId, lock: p.waiting ? toDeadlockLock(p.waiting) : null, waited: p.waiting };
    const waitsFor = waitsForThread(p, members, threadOfTrx);
    if (waitsFor !== null) member.waitsForThreadId = waitsFor;
    cycle.push(member);
  }
  const victim = members.find((p) => p.n === victimN);
  return { victimThreadId: victim?.threadId ?? null, cycle, detectedAt, text };
}

function parseMember(n: number, lines: string[]): Parsed {
  const p: Parsed = { n, threadId: null, trxId: null, waiting: null, conflicting: [], holds: [] };
  const trx = TRX.exec(lines[0] ?? '');
  if (trx?.[1] !== undefined) p.trxId = Number(trx[1]);
  let k = 0;
  for (; k < lines.length; k++) {
    const thread = THREAD.exec(lines[k]!);
    if (thread) {
      p.threadId = Number(thread[1]);
      break;
    }
  }
  // The statement text comes right after the thread line and may hold anything; InnoDB's own
  // markers are the last ones in the block.
  const last = (re: RegExp) => {
    for (let m = lines.length - 1; m > k; m--) if (re.test(lines[m]!)) return m;
    return -1;
  };
  const w = last(WAITING);
  if (w >= 0) p.waiting = parseLock(lines, w + 1).lock;
  for (const [re, into] of [
    [CONFLICTING, p.conflicting],
    [HOLDS, p.holds],
  ] as const) {
    const at = last(re);
    if (at < 0) continue;
    for (let m = at + 1; m < lines.length && !lines[m]!.startsWith('*** '); ) {
      const { lock, next } = parseLock(lines, m);
      if (lock) into.push(lock);
      m = next;
    }
  }
  return p;
}

function waitsForThread(p: Parsed, members: readonly Parsed[], threadOfTrx: ReadonlyMap<number, number>): number | null {
  // MariaDB: the conflicting locks name their owners' trx ids (0 for one without an id: unknown).
  for (const lock of p.conflicting) {
    if (lock.trxId === 0 || lock.trxId === p.trxId) continue;
    const thread = threadOfTrx.get(lock.trxId);
    if (thread !== undefined && thread !== p.threadId) return thread;
  }
  // MySQL 8: the member holding a lock on what this one waits for.
  if (!p.waiting) return null;
  for (const o of members) {
    if (o === p || o.threadId === null) continue;
    if (o.holds.some((h) => sameTarget(h, p.waiting!))) return o.threadId;
  }
  return null;
}

function sameTarget(a: WaitedLock, b: WaitedLock): boolean {
  if (a.type === 'table' || b.type === 'table') return a.type === b.type && a.table === b.table;
  return a.space === b.space && a.page === b.page && a.heapNo === b.heapNo;
}

function toDeadlockLock(lock: WaitedLock): DeadlockLock {
  const d = describeLock(lock);
  return { table: d.table, index: d.index, mode: d.mode, detail: d.detail };
}

/**
 * The report if one of these connections is in its cycle, else null. The section is server-wide
 * and keeps only the latest deadlock, which may be another client's (connection ids are never
 * reused while the server runs, so a match is this run's).
 */
export function deadlockInvolving(report: DeadlockReport | null, threads: ReadonlySet<number>): DeadlockReport | null {
  if (!report) return null;
  return report.cycle.some((m) => threads.has(m.threadId)) ? report : null;
}
