/**
 * One variant run, from start to end: a scratch database, the scenario's setup, the scheduler
 * driving the workers, the checks' raw results, the teardown, and the scratch database dropped on
 * every path (Ctrl-C and errors included).
 */
import type { DbError, Dialect, Scratch } from './dialect.js';
import { QueryError } from './dialect.js';
import { ConnectionLost } from '../errors.js';
import type { LocatedSql, VariantPlan } from '../plan/plan.js';
import type { CheckRun, Driven, VariantRun } from './result.js';
import { RunAborted, Scheduler, type RunOptions } from './scheduler.js';
import { abortable } from '../util/async.js';

export { RunAborted, type RunOptions };

/** Setup or teardown SQL failed: the scenario, not the engine, is at fault. */
export class SetupFailed extends Error {
  constructor(
    readonly file: string,
    readonly phase: 'setup' | 'teardown',
    readonly line: number,
    readonly error: DbError | Error,
  ) {
    super(`${phase} SQL failed: ${'code' in error ? `${error.code} ` : ''}${error.message}`);
    this.name = 'SetupFailed';
  }
}

const aborted = () => new RunAborted();

/** How the workers' steps are driven once setup is done: the scheduler, or all at once (stress). */
export type Driver = (scratch: Scratch, plan: VariantPlan, opts: RunOptions, t0: number) => Promise<Driven>;

/** The scheduler: one step at a time, in the schedule's order of preference. */
export const scheduled: Driver = async (scratch, plan, opts, t0) => {
  const run = new Scheduler(scratch, plan, opts, t0);
  await run.open();
  try {
    await run.drive();
  } finally {
    await run.closeSessions();
  }
  return { steps: run.records, events: run.events, deadlocks: run.deadlocks };
};

/**
 * Where runs get their scratch database: one kept for run after run and reset between them (a
 * few ms on PostgreSQL, against ~100 ms for CREATE DATABASE), or a new one when the dialect cannot
 * reset it or cannot vouch for the reset (Scratch.reset). One lane serves one run at a time; runs
 * in parallel each have their own lane. Close it when done.
 */
export class ScratchLane {
  private kept: Scratch | undefined;
  /** Runs served by a reset rather than a new database (for tests and the bench). */
  resets = 0;

  constructor(
    private readonly dialect: Dialect,
    private readonly label: string,
  ) {}

  async take(): Promise<Scratch> {
    const s = this.kept;
    this.kept = undefined;
    if (s) {
      if (s.reset && (await s.reset().catch(() => false))) {
        this.resets++;
        return s;
      }
      await s.drop();
    }
    return this.dialect.createScratch(this.label);
  }

  /** A run ended normally: keep its scratch for the next run. */
  give(s: Scratch): void {
    this.kept = s;
  }

  async close(): Promise<void> {
    const s = this.kept;
    this.kept = undefined;
    await s?.drop();
  }
}

/** Lanes for runs at once, each with its own scratch database; shared by a scenario's variants. */
export class LanePool {
  private readonly free: ScratchLane[];

  constructor(
    dialect: Dialect,
    label: string,
    readonly size: number,
  ) {
    this.free = Array.from({ length: Math.max(1, size) }, () => new ScratchLane(dialect, label));
  }

  /** A free lane; callers run at most `size` at once (p-limit). */
  take(): ScratchLane {
    const lane = this.free.pop();
    if (!lane) throw new Error('LanePool: more runs at once than lanes');
    return lane;
  }

  give(lane: ScratchLane): void {
    this.free.push(lane);
  }

  /** Drop every lane's scratch database (call once no run is going). */
  async close(): Promise<void> {
    for (const lane of this.free) await lane.close().catch(() => undefined);
  }
}

export async function runVariant(
  dialect: Dialect,
  plan: VariantPlan,
  opts: RunOptions = {},
  drive: Driver = scheduled,
  lane?: ScratchLane,
): Promise<VariantRun> {
  if (opts.signal?.aborted) throw new RunAborted();
  const t0 = performance.now();
  const scratch = lane ? await lane.take() : await dialect.createScratch(plan.scenario.name);
  let keep = false;
  try {
    await runPhase(scratch, plan, 'setup', opts.signal);
    const driven = await drive(scratch, plan, opts, t0);
    const checks = await runChecks(scratch, plan, opts.signal);
    await runPhase(scratch, plan, 'teardown', opts.signal);
    keep = lane !== undefined && !opts.signal?.aborted;
    return { plan, ...driven, checks, durationMs: performance.now() - t0 };
  } finally {
    // Also after Ctrl-C with a setup statement still running: drop() ends it on the server.
    if (keep) lane!.give(scratch);
    else await scratch.drop();
  }
}

async function runPhase(scratch: Scratch, plan: VariantPlan, phase: 'setup' | 'teardown', signal?: AbortSignal): Promise<void> {
  const sqls: readonly LocatedSql[] = plan[phase];
  for (const { sql, line, file } of sqls) {
    try {
      await abortable(scratch.exec(sql), signal, aborted);
    } catch (e) {
      // Ctrl-C, or a connection the server ended: not the scenario's fault.
      if (e instanceof RunAborted || e instanceof ConnectionLost || (e instanceof QueryError && e.db.connectionLost)) throw e;
      // A statement of a { file: … } entry is blamed on its line in that file.
      throw new SetupFailed(file ?? plan.scenario.file, phase, line, e instanceof QueryError ? e.db : (e as Error));
    }
  }
}

/** What each check's SQL returned; whether it passed is for detect/ to say. */
async function runChecks(scratch: Scratch, plan: VariantPlan, signal?: AbortSignal): Promise<CheckRun[]> {
  const out: CheckRun[] = [];
  for (const c of plan.checks) {
    const base = { name: c.name, line: c.line, anomaly: c.anomaly, expect: c.expect };
    try {
      // Workers' transactions are over by now, so a check cannot wait on their locks; setup,
      // checks and teardown are bounded by Ctrl-C only (a big setup may rightly take long).
      const res = await abortable(scratch.exec(c.sql), signal, aborted);
      out.push({ ...base, rows: res.rows, columns: res.columns, error: null, code: null });
    } catch (e) {
      // A lost connection (or Ctrl-C) is not the check's fault: it ends the run.
      if (!(e instanceof QueryError) || e.db.connectionLost) throw e;
      out.push({ ...base, rows: [], columns: [], error: `its SQL failed: ${e.db.code} ${e.db.message}`, code: e.db.code });
    }
  }
  return out;
}
