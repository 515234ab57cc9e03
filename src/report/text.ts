/**
 * The terminal report: a step-by-step transcript per variant, the checks, the verdict, and one
 * summary table of bug vs fixes. Deterministic by default: no PIDs, transaction ids or timings
 * unless `verbose`, so a workshop sees the same text every run.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import Table from 'cli-table3';
import type { DatabaseInfo, DbError } from '../engine/dialect.js';
import type { DeadlockRecord, StepRecord, VariantRun } from '../engine/result.js';
import type { VariantPlan } from '../plan/plan.js';
import type { Scenario } from '../scenario/model.js';
import type { Report, ScenarioError, VariantReport } from './model.js';
import type { Exploration } from '../detect/aggregate.js';
import { reportOk } from './model.js';
import { expectText, lockText, oneLine, wrap } from './format.js';
import { normalise } from '../detect/compare.js';
import { wilson } from '../detect/rates.js';

export interface TextOptions {
  color: boolean;
  verbose: boolean;
}

const SHOWN_TEXT: Record<Exploration['shownBecause'], string> = {
  reproduced: 'the first that reproduced it',
  anomaly: 'the first that showed an anomaly',
  first: 'none showed an anomaly; the first',
};

/** Of several interleavings the simplest is shown (detect/aggregate.ts). */
const SHOWN_INTERLEAVING: Record<Exploration['shownBecause'], string> = {
  reproduced: 'of those that reproduced it, the one with the fewest switches between workers',
  anomaly: 'of those that showed an anomaly, the one with the fewest switches between workers',
  first: 'none showed an anomaly; the first',
};

const UNDO_TEXT: Record<DbError['rolledBack'], string> = {
  transaction: 'transaction rolled back',
  statement: 'only the statement rolled back (an open transaction stays open)',
  aborted: 'transaction aborted (only ROLLBACK or ROLLBACK TO SAVEPOINT runs now)',
  none: 'the transaction stays open',
};

const KIND_TEXT: Record<DbError['kind'], string> = {
  deadlock: 'deadlock detected',
  serialization: 'serialization failure',
  'unique-violation': 'unique violation',
  'lock-timeout': 'lock not available',
  timeout: 'statement cancelled',
  other: 'error',
};

/** Worker name colours, in the order workers are declared; none is the yellow of waits or the red of errors. */
const WORKER_COLOURS = ['cyanBright', 'magentaBright', 'greenBright', 'blueBright', 'cyan', 'magenta'] as const;

export class TextReporter {
  private readonly c: ChalkInstance;

  constructor(private readonly opts: TextOptions) {
    this.c = new Chalk({ level: opts.color ? 2 : 0 });
  }

  database(db: DatabaseInfo, where: string): string {
    const settings = Object.entries(db.settings)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return `${this.c.dim(`database: ${db.dialect} ${db.version} (${where})${settings ? ` · ${settings}` : ''}`)}\n`;
  }

  scenario(sc: Scenario): string {
    const { c } = this;
    const lines = [``, c.bold(`━━ ${sc.name}`) + c.bold(` · ${sc.title}`)];
    for (const seed of sc.seed) lines.push(...wrap(`retells seed ${seed}`, 96).map((l) => c.dim(`   ${l}`)));
    for (const l of sc.story.split('\n')) lines.push(`   ${l}`);
    return `${lines.join('\n')}\n`;
  }

  variant(v: VariantReport): string {
    const head = this.variantHead(v.run.plan, v);
    const { lines } = this.eventLines(v.run, 0);
    return `${[...head, ...lines, ...this.variantTail(v)].join('\n')}\n`;
  }

  /** The variant's heading, title, story and how it was run: printed before its steps. */
  variantHead(p: VariantPlan, v?: VariantReport): string[] {
    const { c } = this;
    const runsAs = p.runsAs ? ` (runs as ${p.runsAs.replace('-', ' ')} on ${p.engine})` : '';
    const kept = p.ownIsolationKept ? " (the fix's own level: --isolation does not apply)" : '';
    const head = `${p.fix ? `fix ${p.name}` : 'bug'} · ${p.isolation.replace('-', ' ')}${runsAs}${kept} · expect ${expectText(p.expected)}`;
    const out: string[] = ['', c.bold.cyan(`── ${head}`)];
    if (p.title) out.push(`   ${p.title}`);
    if (p.story) for (const l of p.story.trim().split('\n')) out.push(c.dim(`   ${l}`));
    for (const sql of p.fixSetup) out.push(c.dim(`   + setup: ${oneLine(sql)}`));
    if (p.retry)
      out.push(
        c.dim(
          `   on ${p.retry.on.join(' or ')} the worker rolls back and starts its transaction again, up to ${timesText(p.retry.attempts)}`,
        ),
      );
    const ex = v?.explored;
    if (ex && v?.mode === 'stress') {
      out.push(c.dim(`   run ${ex.shown.rank + 1n} of ${ex.runs} with the workers released together (${SHOWN_TEXT[ex.shownBecause]}):`));
    } else if (ex) {
      out.push(c.dim(`   interleaving ${ex.shown.rank + 1n} of ${ex.total} (${SHOWN_INTERLEAVING[ex.shownBecause]}):`));
      out.push(...wrap(p.schedule.map((r) => `${r.worker}.${r.step}`).join(' '), 92).map((l) => c.dim(`     ${l}`)));
    }
    return out;
  }

  /**
   * The lines of the run's events from `from` on, and where the next call should start: all of
   * them for a finished run, or those so far while it goes (`--pace`). A step that finished at
   * once is one line with its outcome; one still in flight waits (its outcome comes as `↳`).
   */
  eventLines(run: Pick<VariantRun, 'plan' | 'steps' | 'events' | 'deadlocks'>, from: number): { lines: string[]; next: number } {
    const { c } = this;
    const p = run.plan;
    const out: string[] = [];
    const wWidth = Math.max(...p.workers.map((w) => w.name.length));
    // The plan's steps too, so lines printed while the run goes line up with those after it.
    const sWidth = Math.max(...run.steps.map((s) => s.step.length), ...p.workers.flatMap((w) => w.steps.map((s) => s.name.length)), 4);
    // One colour per worker (only when colour is on), so a room can follow each lane.
    const hue = new Map(p.workers.map((w, i) => [w.name, WORKER_COLOURS[i % WORKER_COLOURS.length]!]));
    const who = (s: StepRecord) => `${c[hue.get(s.worker) ?? 'white'](s.worker.padEnd(wWidth))}  ${s.step.padEnd(sWidth)}`;
    const pad = ' '.repeat(wWidth + sWidth + 2);
    const ev = run.events;
    let i = from;
    for (; i < ev.length; i++) {
      const e = ev[i]!;
      switch (e.type) {
        case 'start': {
          const s = run.steps[e.step]!;
          const next = ev[i + 1];
          const sql = oneLine(s.sql) + paramText(s.params);
          if (next?.type === 'finish' && next.step === e.step && !s.blocked) {
            out.push(`   ${who(s)}  ${sql}${this.outcome(s, false)}${this.timing(s)}`);
            i++;
          } else {
            out.push(`   ${who(s)}  ${sql}`);
          }
          if (s.note) out.push(c.dim(`   ${pad}  # ${s.note}`));
          break;
        }
        case 'wait': {
          const s = run.steps[e.step]!;
          const whom = e.blockedBy.length > 0 ? `for ${listText(e.blockedBy)}` : 'on a lock (holder unknown)';
          const what = s.lock ? ` · ${lockText(s.lock)}` : '';
          out.push(c.yellow(`   ${pad}  ⏳ ${s.worker} waits ${whom}${what}`));
          break;
        }
        case 'finish': {
          const s = run.steps[e.step]!;
          const after = s.blocked ? 'after waiting' : 'finished';
          out.push(`   ${who(s)}  ${c.dim(`↳ ${after}`)}${this.outcome(s, true)}${this.timing(s)}`);
          const dl = run.deadlocks.find((d) => d.step === e.step);
          if (dl) out.push(...this.deadlockLines(dl, pad));
          break;
        }
        case 'skip': {
          const s = run.steps[e.step]!;
          out.push(c.dim(`   ${who(s)}  – not run`));
          break;
        }
        case 'hang': {
          const s = run.steps[e.step]!;
          const why =
            e.reason === 'stuck'
              ? `still waited after ${e.afterMs} ms in which no step could move`
              : `did not finish within ${e.afterMs} ms, waiting on no other worker's lock`;
          out.push(c.red(`   ${pad}  ⌛ ${s.worker}.${s.step} ${why}: a hang; cancelled`));
          break;
        }
        case 'rollback':
          if (e.reason !== 'retry') {
            out.push(c.dim(`   ${pad}  ${e.worker} gives up: ROLLBACK, its remaining steps are skipped`));
          }
          break;
        case 'retry':
          out.push(c.magenta(`   ${pad}  ↻ ${e.worker} rolls back and retries its transaction (attempt ${e.attempt})`));
          break;
      }
    }
    return { lines: out, next: i };
  }

  /** Checks, the engine's note and the verdict: printed after the run. */
  variantTail(v: VariantReport): string[] {
    const { c } = this;
    const { verdict } = v;
    const p = v.run.plan;
    const ex = v.explored;
    const out: string[] = [];
    if (verdict.checks.length > 0) {
      out.push('', '   checks');
      for (const ch of verdict.checks) {
        if (ch.error) out.push(c.red(`     ✗ ${ch.name}: cannot be checked: ${ch.error}`));
        else if (ch.passed) out.push(c.green(`     ✓ ${ch.name}: ${valueText(ch.actual)}`));
        else if (verdict.notCounted[ch.name])
          out.push(
            c.yellow(`     ✗ ${ch.name}: expected ${valueText(ch.expected)}, got ${valueText(ch.actual)}: ${verdict.notCounted[ch.name]}`),
          );
        else out.push(c.red(`     ✗ ${ch.name}: expected ${valueText(ch.expected)}, got ${valueText(ch.actual)} → ${ch.anomaly}`));
      }
    }
    if (verdict.waits.length > 0) {
      out.push('', '   waits');
      for (const w of verdict.waits) {
        if (w.met)
          out.push(
            c.green(
              `     ✓ ${w.step} ${w.expected ? 'waited on a lock' : w.waited === null ? 'did not run (so did not wait)' : 'did not wait'}`,
            ),
          );
        else out.push(c.red(`     ✗ ${w.message}`));
      }
    }
    if (p.engineNote) {
      out.push('', ...wrap(`on ${p.engine}: ${p.engineNote.trim()}`, 96).map((l) => `   ${l}`));
    }
    const saw = expectText(verdict.observed);
    const handled =
      verdict.handledErrors > 0 && verdict.observed.length === 0
        ? ` (after ${verdict.handledErrors} handled error${verdict.handledErrors > 1 ? 's' : ''}${verdict.counts.retries ? `, ${verdict.counts.retries} retr${verdict.counts.retries > 1 ? 'ies' : 'y'}` : ''})`
        : '';
    const line = `   saw ${saw}${handled}; expected ${expectText(p.expected)}`;
    out.push('', verdict.met ? c.green(`${line}  ✓`) : c.red.bold(`${line}  ✗ ${missText(v)}`));
    if (v.stress) out.push(...stressText(v).map((l) => `   ${l}`));
    else if (ex) out.push(`   ${exploredText(ex)}`);
    if (notAFixHere(v)) out.push(c.yellow(`   this fix does not fix it on ${p.engine}: the scenario says so, and why, above`));
    return out;
  }

  /** Where the scenario's own SQL failed; its remaining variants were not run. */
  scenarioError(e: ScenarioError): string {
    const { c } = this;
    return `\n${c.red.bold(`   ✗ the scenario's own SQL failed at ${e.file}:${e.line}: ${e.message}`)}\n${c.dim('     its remaining variants were not run (exit 2: fix the scenario)')}\n`;
  }

  summary(report: Report): string {
    const { c } = this;
    const table = new Table({
      head: ['scenario', 'variant', 'isolation', 'saw', 'expected', ''],
      style: { head: [], border: [] },
    });
    const notFixes: string[] = [];
    for (const s of report.scenarios) {
      for (const v of s.variants) {
        if (notAFixHere(v)) notFixes.push(`${s.scenario.name} fix ${v.run.plan.name} (still ${expectText(v.run.plan.expected)})`);
        table.push([
          s.scenario.name,
          v.run.plan.fix ? `fix ${v.run.plan.name}` : 'bug',
          v.run.plan.isolation,
          expectText(v.verdict.observed) + countsText(v),
          expectText(v.run.plan.expected),
          v.verdict.met ? (notAFixHere(v) ? c.yellow('✓ !') : c.green('✓')) : c.red('✗'),
        ]);
      }
      if (s.error) table.push([s.scenario.name, c.red(`its SQL failed (line ${s.error.line})`), '', '', '', c.red('✗')]);
    }
    const ok = reportOk(report);
    const engine = report.scenarios[0]?.variants[0]?.run.plan.engine;
    const warn = notFixes.length ? `\n${c.yellow(`! as expected, not a fix on ${engine}: ${notFixes.join('; ')}`)}` : '';
    return `\n${table.toString()}${warn}\n${ok ? c.green.bold('every expectation met') : c.red.bold('some expectations were not met')}\n`;
  }

  private outcome(s: StepRecord, afterWait: boolean): string {
    const { c } = this;
    const lead = afterWait ? ': ' : '  → ';
    if (s.status === 'error' && s.error) {
      const e = s.error;
      const who = e.kind === 'deadlock' ? `; ${s.worker} is the deadlock victim` : '';
      const undo = UNDO_TEXT[e.rolledBack];
      const handled = s.handled === 'caught' ? '; caught, the application goes on' : '';
      const text = `✗ ${KIND_TEXT[e.kind]} (${e.code})${who}: ${undo}${handled}`;
      // The kind already says what the server said; its own words are shown when they add
      // something (errors of other kinds) or on request.
      // With --verbose the server's words, and its detail unless a deadlock report tells it with names (below).
      const detail = e.detail && !e.deadlock ? ` — ${e.detail.replace(/\n/g, ' ')}` : '';
      const msg = this.opts.verbose
        ? c.dim(`  [${e.message}${detail}]`)
        : e.kind === 'other' || e.kind === 'timeout' || e.code === 'rows'
          ? c.dim(`  [${e.message}]`)
          : '';
      return `${lead}${s.hang ? c.red(`✗ cancelled (${e.code})`) : c.red(text)}${s.hang ? '' : msg}`;
    }
    if (s.rows.length > 0) return `${lead}${rowsText(s.rows, s.rowCount)}`;
    if (s.resultSet) return `${lead}no rows`;
    if (/^\s*(insert|update|delete|replace)\b/i.test(s.sql)) {
      const n = s.rowCount ?? 0;
      return `${lead}${n} row${n === 1 ? '' : 's'} changed`;
    }
    return afterWait ? `${lead}ok` : '';
  }

  /**
   * The cycle the database broke (`⟲ bob → alice → bob`) and, with --verbose, its own report with
   * worker names in place of process ids.
   */
  private deadlockLines(d: DeadlockRecord, pad: string): string[] {
    const { c } = this;
    // A cycle of one is what is left when neither the monitor nor the database named the others.
    const cycle = d.cycle.length >= 2 ? `the cycle: ${[...d.cycle, d.cycle[0]].join(' → ')}` : 'the cycle: not reported by the database';
    const lines = [c.red(`   ${pad}  ⟲ ${cycle}; ${d.victim} was chosen as the victim`)];
    if (this.opts.verbose && d.server) for (const l of d.server.split('\n')) lines.push(c.dim(`   ${pad}    ${l}`));
    return lines;
  }

  private timing(s: StepRecord): string {
    if (!this.opts.verbose) return '';
    return this.c.dim(`  [pid ${s.backendId} +${s.startedMs?.toFixed(1)}ms → +${s.endedMs?.toFixed(1)}ms]`);
  }
}

/**
 * `all 70 interleavings run: deadlock in 36 (51%), no anomaly in 34`; with the reduction
 * `70 interleavings, 28 run (42 skipped: each equivalent to one run): deadlock in …`.
 */
function exploredText(ex: Exploration): string {
  const skipped = ex.equivalent ?? 0n;
  const sampled = BigInt(ex.runs) + skipped < ex.total;
  const equivalent = `${skipped} skipped: each equivalent to one run`;
  const of = ex.interrupted
    ? `${ex.total} interleavings, interrupted after ${ex.runs} run${skipped > 0n ? ` (${equivalent})` : ''}`
    : skipped === 0n && !sampled
      ? `all ${ex.total} interleavings run`
      : skipped === 0n
        ? `${ex.runs} of ${ex.total} interleavings run (evenly spread)`
        : `${ex.total} interleavings, ${ex.runs} run (${equivalent}${sampled ? '; the rest not sampled' : ''})`;
  const parts = Object.entries(ex.byAnomaly).map(([a, n]) => `${a} in ${n} (${Math.round((100 * n) / ex.runs)}%)`);
  const none = ex.runs - ex.failing;
  if (none > 0) parts.push(`no anomaly in ${none}`);
  return `${of}: ${parts.join(', ')}`;
}

/**
 * `200 runs, 4 at a time: lost-update in 37 (18.5%, 95% CI 13.6–24.5%), no anomaly in 163`, the
 * run times, and for a bug the point a workshop makes: timing alone shows it in k of n runs.
 */
function stressText(v: VariantReport): string[] {
  const ex = v.explored!;
  const st = v.stress!;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const parts = Object.entries(ex.byAnomaly).map(([a, n]) => {
    const { low, high } = wilson(n, ex.runs);
    return `${a} in ${n} (${pct(n / ex.runs)}, 95% CI ${pct(low)}–${pct(high)})`;
  });
  const none = ex.runs - ex.failing;
  if (none > 0) parts.push(`no anomaly in ${none}`);
  const stopped = st.interrupted ? ` (interrupted after ${ex.runs} of ${st.asked})` : '';
  const lines = [`${ex.runs} runs, ${st.concurrency} at a time${stopped}: ${parts.join(', ')}`];
  const widest = Math.max(...st.histogram.map((b) => b.runs));
  lines.push(
    `run time: ${st.histogram.map((b) => `≤${b.upToMs} ms ${'▇'.repeat(Math.max(1, Math.round((8 * b.runs) / widest)))} ${b.runs}`).join('  ')}`,
  );
  const p = v.run.plan;
  if (!p.fix && p.expected.length > 0) {
    const shown = p.expected.map((a) => ex.byAnomaly[a] ?? 0);
    const k = Math.min(...shown);
    lines.push(`left to timing, ${expectText(p.expected)} showed in ${k} of ${ex.runs} runs; lockrepro's schedule shows it every run`);
  }
  return lines;
}

function countsText(v: VariantReport): string {
  const k = v.verdict.counts;
  const extra: string[] = [];
  if (v.explored) extra.push(`${v.explored.failing}/${v.explored.runs} runs`);
  if (k.retries) extra.push(`${k.retries} retr${k.retries > 1 ? 'ies' : 'y'}`);
  return extra.length ? ` (${extra.join(', ')})` : '';
}

function missText(v: VariantReport): string {
  const { observed, expected } = v.verdict;
  if (!v.run.plan.fix && observed.length === 0) return 'the bug did not reproduce';
  const extra = observed.filter((o) => !expected.includes(o));
  const lacking = expected.filter((e) => !observed.includes(e));
  const parts = [];
  if (extra.length) parts.push(`unexpected ${extra.join(', ')}`);
  if (lacking.length) parts.push(`no ${lacking.join(', ')}`);
  for (const w of v.verdict.waits) if (w.message) parts.push(w.message);
  return parts.join('; ');
}

function listText(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? '';
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function paramText(params: Readonly<Record<string, unknown>>): string {
  const e = Object.entries(params);
  return e.length ? `  (${e.map(([k, v]) => `:${k} = ${valueText(v)}`).join(', ')})` : '';
}

function rowsText(rows: readonly Record<string, unknown>[], rowCount: number | null): string {
  const cell = (r: Record<string, unknown>) => {
    const e = Object.entries(r);
    return e.length === 1 ? `${e[0]![0]} = ${valueText(e[0]![1])}` : `(${e.map(([k, v]) => `${k} = ${valueText(v)}`).join(', ')})`;
  };
  const total = rowCount ?? rows.length;
  const shown = rows.slice(0, 3).map(cell).join('; ');
  return total > 3 ? `${shown}; … ${total} rows` : shown;
}

function valueText(v: unknown): string {
  const n = normalise(v);
  if (n === null || n === undefined) return 'null';
  if (typeof n === 'string') return n === '' ? "''" : n;
  if (n instanceof Date) return n.toISOString();
  return typeof n === 'object' ? JSON.stringify(n) : String(n);
}

/** A fix whose expectation on this engine is an anomaly: it met it, but fixes nothing here. */
function notAFixHere(v: VariantReport): boolean {
  return v.run.plan.fix && v.verdict.met && v.run.plan.expected.length > 0;
}

function timesText(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}
