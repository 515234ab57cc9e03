/**
 * The scheduler: drives one session per worker through a variant's schedule, step by step.
 *
 * Like PostgreSQL's isolation tester, it sends a step and then waits until the step either
 * completes or the database (asked on a monitor connection) says it waits on a lock. A waiting
 * step is parked and the schedule goes on; parked steps are re-checked after every later step.
 * The schedule is an order of preference: the next entry whose worker is free runs, so one
 * schedule serves the bug and every fix. Nothing here sleeps to synchronise: every wait is on a
 * step's completion or the database's answer, bounded by the step timeout.
 */
import { setImmediate, setTimeout as delay } from 'node:timers/promises';
import type { DbError, LockWait, Scratch, Session } from './dialect.js';
import type { PlannedStep, VariantPlan } from '../plan/plan.js';
import type { DeadlockRecord, RunEvent, StepRecord } from './result.js';
import { onError, type Outcome } from './policy.js';
import { deadlockRecord, execute, keepResult, lostError, newRecord, recoveryStep, saveValues } from './step-io.js';
import { findCycle } from './wait-graph.js';
import { tellVictimWait, type VictimFacts } from './victim.js';
import { abortable, settlesWithin } from '../util/async.js';
import { RunAborted, type RunOptions } from './run-options.js';

export { RunAborted, type NextStep, type RunOptions } from './run-options.js';

export const DEFAULT_STEP_TIMEOUT_MS = 5000;
const DEFAULT_POLL_MS = 2;
/** A sent step's first look (most are done by then: no poll; how-it-works.md), then polls back to back until FAST_POLL_MS. */
const FIRST_LOOK_MS = 1;
const FAST_POLL_MS = 3;
/** After a cancel, how long a statement may take to stop before its connection is ended. */
export const CANCEL_GRACE_MS = 2000;

interface Inflight {
  readonly record: number;
  readonly entry: Entry;
  readonly promise: Promise<Outcome>;
  outcome: Outcome | null;
  waiting: boolean;
  blockers: string;
  /** Set when the step was cancelled as a hang. */
  hang: HangReason | null;
}

type HangReason = 'running' | 'stuck';

interface Entry {
  readonly worker: string;
  readonly step: PlannedStep;
  readonly recovery: boolean;
  /** A catch's recovery or a retried transaction: runs before the schedule's own entries. */
  readonly urgent: boolean;
}

interface WorkerState {
  readonly name: string;
  readonly order: number;
  readonly session: Session;
  readonly steps: readonly PlannedStep[];
  vars: Map<string, unknown>;
  attempt: number;
  /** After an unhandled error the worker's remaining steps are not run. */
  skipping: boolean;
  /** The connection was ended (hang that ignored a cancel). */
  dead: boolean;
  inflight: Inflight | null;
}
export class Scheduler {
  readonly records: StepRecord[] = [];
  readonly events: RunEvent[] = [];
  readonly deadlocks: DeadlockRecord[] = [];
  private readonly workers = new Map<string, WorkerState>();
  private readonly byBackend = new Map<number, string>();
  private pending: Entry[] = [];
  private readonly stepTimeout: number;
  private readonly pollMs: number;
  private readonly keepRows: number;

  constructor(
    private readonly scratch: Scratch,
    private readonly plan: VariantPlan,
    private readonly opts: RunOptions,
    private readonly t0: number,
  ) {
    this.stepTimeout = plan.timeoutMs ?? opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    this.pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
    this.keepRows = opts.keepRows ?? 100;
  }

  async open(): Promise<void> {
    const opts = { stepTimeoutMs: this.stepTimeout, workers: this.plan.workers.length };
    // Opened at once; when one fails, every other is waited for and closed before the error goes on
    // (none is left connecting into a scratch database about to be dropped).
    const opened = await Promise.allSettled(this.plan.workers.map((w) => this.scratch.openSession(w.name, this.plan.isolation, opts)));
    const failed = opened.find((o) => o.status === 'rejected');
    if (failed) {
      for (const o of opened) if (o.status === 'fulfilled') await o.value.close().catch(() => undefined);
      throw failed.reason;
    }
    const sessions = opened.map((o) => (o as PromiseFulfilledResult<Session>).value);
    for (const [order, w] of this.plan.workers.entries()) {
      const session = sessions[order]!;
      this.workers.set(w.name, {
        name: w.name,
        order,
        session,
        steps: w.steps,
        vars: new Map(),
        attempt: 1,
        skipping: false,
        dead: false,
        inflight: null,
      });
      this.byBackend.set(session.backendId, w.name);
    }
    this.pending = this.plan.schedule.map((r) => ({
      worker: r.worker,
      step: this.workers.get(r.worker)!.steps.find((s) => s.name === r.step)!,
      recovery: false,
      urgent: false,
    }));
  }

  async drive(): Promise<void> {
    for (;;) {
      this.checkAbort();
      const next = this.pending.findIndex((e) => this.workers.get(e.worker)!.inflight === null);
      if (next >= 0) {
        const [entry] = this.pending.splice(next, 1) as [Entry];
        const w = this.workers.get(entry.worker)!;
        if (w.skipping && !entry.recovery) {
          this.events.push({ type: 'skip', step: this.record(entry, w, 'not-run') });
          continue;
        }
        if (this.opts.beforeStep) {
          const next = { worker: w.name, step: entry.step.name, sql: entry.step.sql.source };
          const sofar = { steps: this.records, events: this.events, deadlocks: this.deadlocks };
          await abortable(this.opts.beforeStep(next, sofar), this.opts.signal, () => new RunAborted());
        }
        this.start(w, entry);
        await Promise.race([w.inflight!.promise, delay(FIRST_LOOK_MS)]);
        await this.settle([w]);
        await this.settle(this.parked());
        continue;
      }
      const parked = this.parked();
      if (parked.length === 0) return;
      // Only a client timeout ends these waits (SQLite): the first one sent runs out first.
      if (this.scratch.timeOutWait?.(firstSent(parked).session.backendId)) {
        await this.settle(parked);
        continue;
      }
      // Nothing can run until a parked step finishes: the database's deadlock detector, a lock
      // timeout, or nothing at all (a hang). Wait for the first of them, bounded. On a hang,
      // cancel only the step that has waited longest: its rollback may well free the others.
      const moved = await this.firstOutcome(parked, this.stepTimeout);
      if (moved) await this.settle(parked);
      else await this.hang([firstSent(parked)], 'stuck');
    }
  }

  async closeSessions(): Promise<void> {
    // After Ctrl-C, leave everything to Scratch.drop(), which ends busy sessions on the server.
    if (this.opts.signal?.aborted) return;
    for (const w of this.workers.values()) if (w.inflight) await this.hang([w], 'running');
    // Nothing runs any more: each worker's session ends on its own, all at once (each end is a
    // round trip and the server's wait for the backend to exit).
    await Promise.all(
      [...this.workers.values()].map(async (w) => {
        if (!w.dead) await w.session.query('ROLLBACK').catch(() => undefined);
        await w.session.close().catch(() => undefined);
      }),
    );
  }

  private parked(): WorkerState[] {
    return [...this.workers.values()].filter((w) => w.inflight !== null);
  }

  private record(entry: Entry, w: WorkerState, status: StepRecord['status'], params: Record<string, unknown> = {}): number {
    this.records.push(newRecord(entry.step, entry.worker, w.attempt, w.session.backendId, entry.recovery, params, status));
    return this.records.length - 1;
  }

  private start(w: WorkerState, entry: Entry): void {
    const sql = entry.step.sql;
    const params = Object.fromEntries(sql.params.map((n) => [n, w.vars.get(n) ?? null]));
    const index = this.record(entry, w, 'ok', params);
    this.records[index]!.startedMs = this.now();
    this.events.push({ type: 'start', step: index });
    const inflight: Inflight = {
      record: index,
      entry,
      outcome: null,
      waiting: false,
      blockers: '',
      hang: null,
      promise: execute(w.session, entry.step, sql, w.vars),
    };
    void inflight.promise.then((o) => (inflight.outcome = o));
    w.inflight = inflight;
  }

  /**
   * Wait until each given worker's step has finished or the database says it waits on a lock,
   * then record the finished ones together, in a fixed order: errors first (an error such as a
   * deadlock victim's is what lets the others go on, and its response can reach us after theirs),
   * then the order they were sent. Nothing is recorded while another of them is still on its way,
   * so the transcript is the same however the results' arrival interleaves.
   */
  private async settle(list: WorkerState[]): Promise<void> {
    const started = performance.now();
    const deadline = started + this.stepTimeout;
    let open = list.filter((w) => w.inflight);
    for (;;) {
      this.checkAbort();
      open = open.filter((w) => w.inflight);
      if (open.length === 0) return;
      const undecided = open.filter((w) => !w.inflight!.outcome);
      let waitingOnly = true;
      let cycle: WorkerState[] = [];
      if (undecided.length > 0) {
        // Every in-flight step is asked about, not only the open ones: a cycle can pass through
        // a step parked earlier.
        const inflight = this.parked();
        const decided = open.length - undecided.length;
        const waits = await this.scratch.lockWaits(inflight.map((w) => w.session.backendId));
        // A step that finished while the monitor asked may have been let go by one of those the
        // answer still shows waiting (a deadlock victim's abort frees its peer): the answer is
        // stale, so ask again before recording anything.
        if (open.filter((w) => w.inflight!.outcome).length > decided) continue;
        const running: WorkerState[] = [];
        for (const w of undecided) {
          const wait = waits.get(w.session.backendId);
          if (wait) this.markWaiting(w, wait);
          else running.push(w);
        }
        if (running.length > 0) {
          if (performance.now() <= deadline) {
            // Poll again, or stop at once when a step finishes. A statement usually reaches its
            // lock wait well under a millisecond after it is sent, so the first polls follow each
            // other directly (one monitor round trip apart); after that, every pollMs.
            const next = performance.now() - started < FAST_POLL_MS ? setImmediate() : delay(this.pollMs);
            await Promise.race([...running.map((w) => w.inflight!.promise), next]);
            continue;
          }
          await this.hang(running, 'running');
        }
        waitingOnly = running.length === 0 && !open.some((w) => w.inflight?.outcome);
        cycle = waitingOnly ? this.waitCycle(inflight, waits) : [];
      }
      const done = open.filter((w) => w.inflight?.outcome);
      done.sort((a, b) => errFirst(a) - errFirst(b) || a.inflight!.record - b.inflight!.record);
      for (const w of done) await this.finish(w);
      if (!waitingOnly || cycle.length === 0 || performance.now() > deadline) {
        if (done.length > 0 || !waitingOnly) continue;
        return;
      }
      // Every open step waits, and the waits form a cycle: the database has yet to break a
      // deadlock. Wait for it (bounded), so that its victim is recorded before the schedule goes
      // on, whether or not the monitor saw the victim wait first. Polling goes on meanwhile: a
      // cycle seen in a stale lock view would vanish.
      for (const w of cycle) if (!open.includes(w)) open.push(w);
      await Promise.race([...cycle.map((w) => w.inflight!.promise), delay(this.pollMs)]);
    }
  }

  private markWaiting(w: WorkerState, wait: LockWait): void {
    const f = w.inflight!;
    const rec = this.records[f.record]!;
    // The lock from the poll that first named one: read in the same poll as the wait itself, so
    // the record never pairs a wait with a lock of another moment.
    rec.lock ??= wait.lock;
    const names = this.blockerNames(wait.holders);
    const key = names.join(',');
    if (f.waiting && f.blockers === key) return;
    f.waiting = true;
    f.blockers = key;
    rec.waitSeenMs ??= this.now();
    rec.blocked = true;
    for (const n of names) if (!rec.blockedBy.includes(n)) rec.blockedBy.push(n);
    this.events.push({ type: 'wait', step: f.record, blockedBy: names });
  }

  /** The facts {@link tellVictimWait} names a deadlock victim's wait from. */
  private victimFacts(w: WorkerState, rec: StepRecord, error: DbError): VictimFacts {
    const reported = error.deadlock?.waits.find((x) => x.waiter === w.session.backendId)?.holders ?? [];
    let others: Map<string, string[]> | null = error.deadlock ? null : new Map();
    for (const o of this.parked()) {
      if (o === w || !others) continue;
      if (o.inflight!.waiting) others.set(o.name, this.records[o.inflight!.record]!.blockedBy);
      else others = null;
    }
    return { rec, step: this.records.indexOf(rec), reported: this.blockerNames(reported), others };
  }

  /** In-flight workers on a cycle of lock waits among workers (empty when there is none). */
  private waitCycle(inflight: WorkerState[], waits: Map<number, LockWait>): WorkerState[] {
    const edges = new Map<string, string[]>();
    for (const w of inflight) {
      edges.set(
        w.name,
        (waits.get(w.session.backendId)?.holders ?? []).flatMap((id) => this.byBackend.get(id) ?? []),
      );
    }
    return findCycle(edges).flatMap((name) => this.workers.get(name) ?? []);
  }

  private blockerNames(ids: number[]): string[] {
    const names = new Set<string>();
    for (const id of ids) names.add(this.byBackend.get(id) ?? 'another session');
    const order = (n: string) => this.workers.get(n)?.order ?? Number.MAX_SAFE_INTEGER;
    return [...names].sort((a, b) => order(a) - order(b));
  }

  /** Whether one of the parked steps finished within `ms` (Ctrl-C rejects with RunAborted). */
  private firstOutcome(parked: WorkerState[], ms: number): Promise<boolean> {
    return abortable(
      settlesWithin(
        parked.map((w) => w.inflight!.promise),
        ms,
      ),
      this.opts.signal,
      () => new RunAborted(),
    );
  }

  /**
   * Cancel steps that went on too long (`running`: not waiting on another worker's lock; `stuck`:
   * waiting while nothing else could move); end the connection if the cancel does not stop it.
   */
  private async hang(list: WorkerState[], reason: HangReason): Promise<void> {
    for (const w of list) {
      const f = w.inflight;
      if (!f || f.outcome) continue;
      f.hang = reason;
      await this.scratch.cancel(w.session.backendId).catch(() => undefined);
      if (!(await this.firstOutcome([w], CANCEL_GRACE_MS))) {
        await this.scratch.terminate(w.session.backendId).catch(() => undefined);
        w.dead = true;
        if (!(await this.firstOutcome([w], CANCEL_GRACE_MS))) {
          f.outcome = { ok: false, error: lostError('the connection did not end after it was terminated') };
        }
      }
      await this.finish(w);
    }
  }

  private async finish(w: WorkerState): Promise<void> {
    const f = w.inflight!;
    const outcome = f.outcome!;
    const rec = this.records[f.record]!;
    w.inflight = null;
    rec.endedMs = this.now();
    // A statement that completed in spite of the cancel was slow, not hung: it is recorded as is.
    if (f.hang && !outcome.ok) this.events.push({ type: 'hang', step: f.record, reason: f.hang, afterMs: this.stepTimeout });
    let cycle: string[] = [];
    if (!outcome.ok && outcome.error.kind === 'deadlock') {
      // The victim's lock as the database's report names it, when no poll named one.
      rec.lock ??= outcome.error.deadlock?.waits.find((x) => x.waiter === w.session.backendId)?.waitLock ?? null;
      cycle = tellVictimWait(this.victimFacts(w, rec, outcome.error), this.events);
    }
    this.events.push({ type: 'finish', step: f.record });
    if (outcome.ok) {
      keepResult(rec, outcome.result, this.keepRows);
      saveValues(f.entry.step, outcome.result, w.vars);
      return;
    }
    rec.status = 'error';
    rec.error = outcome.error;
    if (outcome.error.kind === 'deadlock')
      this.deadlocks.push(deadlockRecord(f.record, rec, outcome.error, (id) => this.byBackend.get(id), cycle));
    const action = onError({
      kind: outcome.error.kind,
      step: f.entry.step,
      retry: this.plan.retry,
      attempt: w.attempt,
      cancelledAsHang: f.hang !== null,
      connectionEnded: w.dead,
    });
    switch (action.do) {
      case 'hang':
        rec.hang = true;
        await this.giveUp(w, 'hang');
        return;
      case 'catch':
        rec.handled = 'caught';
        if (action.recovery) {
          this.putFirst(w.name, [{ worker: w.name, step: recoveryStep(f.entry.step, action.recovery), recovery: true, urgent: true }]);
        }
        return;
      case 'retry':
        rec.handled = 'retried';
        await w.session.query('ROLLBACK').catch(() => undefined);
        this.events.push({ type: 'rollback', worker: w.name, reason: 'retry' });
        w.attempt += 1;
        w.vars = new Map();
        this.events.push({ type: 'retry', worker: w.name, attempt: w.attempt });
        // The worker starts its transaction again, as soon as it can: its remaining entries are
        // replaced by all of its steps, at the front of the order of preference.
        this.pending = this.pending.filter((e) => e.worker !== w.name);
        this.putFirst(
          w.name,
          w.steps.map((step) => ({ worker: w.name, step, recovery: false, urgent: true })),
        );
        return;
      case 'give-up':
        await this.giveUp(w, 'error');
    }
  }

  /**
   * Put urgent entries at the front of the order of preference: after urgent entries of other
   * workers that were there first (so two retries keep the order their errors came in), but before
   * any entry of the same worker (a recovery runs before the rest of its own transaction).
   */
  private putFirst(worker: string, entries: Entry[]): void {
    let at = this.pending.findIndex((e) => !e.urgent || e.worker === worker);
    if (at < 0) at = this.pending.length;
    this.pending.splice(at, 0, ...entries);
  }

  /** An unhandled error: roll the transaction back and skip the worker's remaining steps. */
  private async giveUp(w: WorkerState, reason: 'error' | 'hang'): Promise<void> {
    w.skipping = true;
    if (!w.dead) await w.session.query('ROLLBACK').catch(() => undefined);
    this.events.push({ type: 'rollback', worker: w.name, reason });
  }

  private now(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000;
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw new RunAborted();
  }
}

/** The parked step sent first (records are numbered in the order steps were sent). */
function firstSent(parked: WorkerState[]): WorkerState {
  return parked.reduce((a, b) => (b.inflight!.record < a.inflight!.record ? b : a));
}

function errFirst(w: WorkerState): number {
  return w.inflight!.outcome!.ok ? 1 : 0;
}
