/**
 * Stress mode's driver: every worker runs its steps back to back, all released together, with no
 * schedule and no monitor, so the machine's timing alone decides the interleaving (which is the
 * point: how often does the race happen when nobody arranges it?). Each statement is bounded by
 * the step timeout and cancelled as a hang past it; errors follow the same policy as under the
 * scheduler (policy.ts). Records and events come in the order things happened.
 */
import type { Scratch, Session } from './dialect.js';
import type { PlannedStep, VariantPlan } from '../plan/plan.js';
import type { Driven } from './result.js';
import { onError, type Outcome } from './policy.js';
import { deadlockRecord, execute, keepResult, lostError, newRecord, recoveryStep, saveValues } from './step-io.js';
import { settlesWithin } from '../util/async.js';
import { CANCEL_GRACE_MS, DEFAULT_STEP_TIMEOUT_MS, RunAborted, type RunOptions } from './scheduler.js';

export async function driveConcurrently(scratch: Scratch, plan: VariantPlan, opts: RunOptions, t0: number): Promise<Driven> {
  const out: Driven = { steps: [], events: [], deadlocks: [] };
  const stepTimeout = plan.timeoutMs ?? opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const keepRows = opts.keepRows ?? 100;
  const now = () => Math.round((performance.now() - t0) * 1000) / 1000;
  const sessions: Session[] = [];
  try {
    sessions.push(
      ...(await Promise.all(
        plan.workers.map((w) => scratch.openSession(w.name, plan.isolation, { concurrent: true, stepTimeoutMs: stepTimeout })),
      )),
    );
    const names = new Map(sessions.map((s) => [s.backendId, s.worker]));

    const runWorker = async (session: Session, steps: readonly PlannedStep[]): Promise<void> => {
      let queue: { step: PlannedStep; recovery: boolean }[] = steps.map((step) => ({ step, recovery: false }));
      let attempt = 1;
      let vars = new Map<string, unknown>();
      let dead = false;
      const skipRest = () => {
        for (const { step } of queue) {
          out.steps.push(newRecord(step, session.worker, attempt, session.backendId, false, {}, 'not-run'));
          out.events.push({ type: 'skip', step: out.steps.length - 1 });
        }
        queue = [];
      };
      while (queue.length > 0) {
        if (opts.signal?.aborted) throw new RunAborted();
        const { step, recovery } = queue.shift()!;
        const params = Object.fromEntries(step.sql.params.map((n) => [n, vars.get(n) ?? null]));
        const rec = newRecord(step, session.worker, attempt, session.backendId, recovery, params, 'ok');
        out.steps.push(rec);
        const index = out.steps.length - 1;
        rec.startedMs = now();
        out.events.push({ type: 'start', step: index });
        const sent = execute(session, step, step.sql, vars);
        let hang = false;
        if (!(await settlesWithin([sent], stepTimeout))) {
          hang = true;
          await scratch.cancel(session.backendId).catch(() => undefined);
          if (!(await settlesWithin([sent], CANCEL_GRACE_MS))) {
            await scratch.terminate(session.backendId).catch(() => undefined);
            dead = true;
          }
        }
        const outcome: Outcome = (await Promise.race([sent, settlesWithin([sent], CANCEL_GRACE_MS).then(() => null)])) ?? {
          ok: false,
          error: lostError('the connection did not end after it was terminated'),
        };
        rec.endedMs = now();
        if (hang && !outcome.ok) out.events.push({ type: 'hang', step: index, reason: 'running', afterMs: stepTimeout });
        out.events.push({ type: 'finish', step: index });
        if (outcome.ok) {
          keepResult(rec, outcome.result, keepRows);
          saveValues(step, outcome.result, vars);
          continue;
        }
        rec.status = 'error';
        rec.error = outcome.error;
        if (outcome.error.kind === 'deadlock') out.deadlocks.push(deadlockRecord(index, rec, outcome.error, (id) => names.get(id)));
        const action = onError({
          kind: outcome.error.kind,
          step,
          retry: plan.retry,
          attempt,
          cancelledAsHang: hang && !outcome.ok,
          connectionEnded: dead,
        });
        if (action.do === 'catch') {
          rec.handled = 'caught';
          if (action.recovery) queue.unshift({ step: recoveryStep(step, action.recovery), recovery: true });
          continue;
        }
        if (!dead) await session.query('ROLLBACK').catch(() => undefined);
        if (action.do === 'retry') {
          rec.handled = 'retried';
          out.events.push({ type: 'rollback', worker: session.worker, reason: 'retry' });
          attempt += 1;
          vars = new Map();
          out.events.push({ type: 'retry', worker: session.worker, attempt });
          queue = steps.map((s) => ({ step: s, recovery: false }));
          continue;
        }
        if (action.do === 'hang') rec.hang = true;
        out.events.push({ type: 'rollback', worker: session.worker, reason: action.do === 'hang' ? 'hang' : 'error' });
        skipRest();
      }
    };
    // Released together: every connection is open before the first statement is sent.
    await Promise.all(sessions.map((s, i) => runWorker(s, plan.workers[i]!.steps)));
  } finally {
    if (!opts.signal?.aborted) {
      for (const s of sessions) {
        await s.query('ROLLBACK').catch(() => undefined);
        await s.close().catch(() => undefined);
      }
    }
  }
  return out;
}
