/**
 * `lockrepro run`: load, plan, run each scenario's variants, report. A scenario whose own SQL fails
 * is reported as such (exit 2) and the others still run; every report asked for (text, JSON, JUnit,
 * HTML, Mermaid) is written whatever else failed, and with --json stdout holds one JSON object on
 * every exit.
 */
import { accessSync, constants as fsc, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectDatabase } from '../dialect/connect.js';
import type { Dialect } from '../engine/dialect.js';
import { BadDatabaseUrl } from '../errors.js';
import type { IsolationLevel, ScratchKind } from '../vocabulary.js';
import { DEFAULT_CONCURRENCY, DEFAULT_INTERLEAVINGS } from './defaults.js';
import { LanePool, RunAborted, SetupFailed, type RunOptions } from '../engine/run.js';
import { DEFAULT_INTERLEAVING_LANES, runInterleavings, runScheduled, runStress, type VariantReport } from '../modes/run-modes.js';
import { engineSkipReason, planScenario, type VariantPlan } from '../plan/plan.js';
import type { Problem } from '../scenario/parse.js';
import { loadTargets } from '../scenario/load.js';
import type { Scenario } from '../scenario/model.js';
import { toJson } from '../report/json.js';
import { toJUnit } from '../report/junit.js';
import { toHtml } from '../report/html.js';
import { toMermaid } from '../report/mermaid.js';
import {
  nothingRan,
  reportOk,
  scenarioErrors,
  type Report,
  type ScenarioError,
  type ScenarioReport,
  type SkippedScenario,
} from '../report/model.js';
import { TextReporter } from '../report/text.js';
import { formatProblem } from '../scenario/parse.js';
import { redactUrl } from '../util/redact.js';
import { classifyRunError } from './errors.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { OUTPUT_CLOSED, jsonFailure, type FailureKind, type Io } from './io.js';
import { PACE_QUIT, Pacer, paceProblem } from './pace.js';

export interface RunFlags {
  db?: string;
  variant?: string[];
  isolation?: IsolationLevel[];
  json?: boolean;
  junit?: string;
  html?: string;
  mermaid?: string;
  verbose?: boolean;
  stepTimeout?: number;
  interleavings?: boolean;
  maxInterleavings?: number;
  stress?: number;
  concurrency?: number;
  color?: boolean;
  pace?: boolean;
  scratch?: ScratchKind;
}

export { DEFAULT_CONCURRENCY, DEFAULT_INTERLEAVINGS };

export async function runCommand(targets: string[], flags: RunFlags, io: Io): Promise<ExitCode> {
  const out = new Outcome(io, !!flags.json);
  const loaded = loadTargets(targets);
  if (loaded.missing.length > 0 || loaded.problems.length > 0) {
    for (const m of loaded.missing) io.err(`${m}\n`);
    const problems = loaded.problems.map((p) => ({ file: p.file, line: p.line, message: p.message }));
    for (const p of loaded.problems) io.err(`${formatProblem(p)}\n`);
    const kind = loaded.problems.length > 0 ? 'invalid-scenario' : 'usage';
    return out.json(EXIT.USAGE, kind, [...loaded.missing, ...loaded.problems.map(formatProblem)].join('; '), problems);
  }
  // Refuse a report file that cannot be written before any database work, not after the run.
  for (const [flag, file] of reportFiles(flags)) {
    const problem = unwritable(file);
    if (problem) return out.fail(EXIT.USAGE, 'usage', `${flag} ${file}: ${problem}`);
  }
  if (flags.stress !== undefined && flags.interleavings)
    return out.fail(EXIT.USAGE, 'usage', '--stress and --interleavings are two ways to run a variant: choose one');
  if (flags.concurrency !== undefined && flags.stress === undefined && !flags.interleavings)
    return out.fail(EXIT.USAGE, 'usage', '--concurrency goes with --stress or --interleavings');
  const paceRefused = flags.pace ? paceProblem(flags, io) : null;
  if (paceRefused) return out.fail(EXIT.USAGE, 'usage', paceRefused);
  if (flags.db === '')
    return out.fail(EXIT.USAGE, 'usage', '--db is empty (an unset variable?): give a URL, or leave --db out for the embedded PostgreSQL');
  const url = flags.db ?? (io.env.LOCKREPRO_DB || undefined);

  let dialect: Dialect;
  try {
    dialect = await connectDatabase(url, { signal: io.signal, scratch: flags.scratch });
  } catch (e) {
    if (e instanceof BadDatabaseUrl) return out.fail(EXIT.USAGE, 'usage', e.message);
    if (io.signal?.aborted) return interrupted(io, out);
    const c = classifyRunError(e, io.env);
    return out.fail(c.code, c.code === EXIT.DATABASE ? 'database' : 'internal', c.message);
  }
  // q quits a paced run as Ctrl-C does: through the same abort signal.
  const pacer = flags.pace ? new Pacer(io) : null;
  if (pacer) io = { ...io, signal: io.signal ? AbortSignal.any([io.signal, pacer.signal]) : pacer.signal };
  let closing: Promise<void> | undefined;
  try {
    if (io.signal?.aborted) throw new RunAborted();
    const plan = planAll(loaded.scenarios, dialect, flags, io);
    if (plan.problems.length > 0) {
      for (const p of plan.problems) io.err(`${formatProblem(p)}\n`);
      return out.json(EXIT.USAGE, 'invalid-scenario', plan.problems.map(formatProblem).join('; '), plan.problems);
    }
    const report = await runAll(plan.planned, plan.skipped, dialect, flags, io, url, pacer);
    // Nothing more is asked of the database: it closes (the embedded server stops) while the
    // reports are written.
    closing = dialect.close().catch(() => undefined);
    return finish(report, flags, io, out);
  } catch (e) {
    if (e instanceof RunAborted) return interrupted(io, out);
    const c = classifyRunError(e, io.env);
    return out.fail(c.code, c.code === EXIT.DATABASE ? 'database' : 'internal', c.message);
  } finally {
    pacer?.close();
    await (closing ?? dialect.close().catch(() => undefined));
  }
}

/** Ctrl-C, SIGTERM or a closed stdout: everything is cleaned up by now. */
function interrupted(io: Io, out: Outcome): ExitCode {
  // A reader that went away (`| head`) is told nothing: it is not listening.
  if (io.signal?.reason === OUTPUT_CLOSED) return EXIT.INTERRUPTED;
  if (io.signal?.reason === PACE_QUIT) return out.fail(EXIT.INTERRUPTED, 'interrupted', 'quit (q): scratch database dropped');
  return out.fail(EXIT.INTERRUPTED, 'interrupted', 'interrupted: scratch databases dropped');
}

interface Planned {
  planned: { scenario: Scenario; plans: VariantPlan[] }[];
  skipped: SkippedScenario[];
  problems: Problem[];
}

/** Plan everything first, so every scenario problem is reported before anything runs. */
function planAll(scenarios: readonly Scenario[], dialect: Dialect, flags: RunFlags, io: Io): Planned {
  const engine = dialect.info.dialect;
  const r: Planned = { planned: [], skipped: [], problems: [] };
  for (const sc of scenarios) {
    const skip = engineSkipReason(sc, engine);
    if (skip) {
      io.err(`${sc.file}: skipped: ${skip}\n`);
      r.skipped.push({ scenario: sc, reason: skip });
      continue;
    }
    const p = planScenario(sc, {
      engine,
      placeholder: (n) => dialect.placeholder(n),
      variants: flags.variant,
      isolations: flags.isolation,
      runsAs: dialect.info.runsAs,
    });
    r.problems.push(...p.problems);
    r.planned.push({ scenario: sc, plans: p.plans });
  }
  return r;
}

async function runAll(
  planned: Planned['planned'],
  skipped: SkippedScenario[],
  dialect: Dialect,
  flags: RunFlags,
  io: Io,
  url: string | undefined,
  pacer: Pacer | null = null,
): Promise<Report> {
  const text = textReporter(flags, io);
  const human = (s: string) => {
    if (!flags.json) io.out(s);
  };
  human(text.database(dialect.info, dialect.info.embedded ? 'embedded' : redactUrl(url ?? '')));
  const report: Report = { database: dialect.info, scenarios: [], skipped };
  for (const { scenario, plans } of planned) {
    const sr: ScenarioReport = { scenario, variants: [] };
    report.scenarios.push(sr);
    human(text.scenario(scenario));
    // The scenario's variants share their scratch databases (one per run at once), reset between runs.
    const pool = new LanePool(dialect, scenario.name, lanesFor(flags));
    try {
      for (const plan of plans) {
        // Ctrl-C or a closed stdout between variants: no new scratch database.
        if (io.signal?.aborted) throw new RunAborted();
        const opts: RunOptions = { signal: io.signal, stepTimeoutMs: flags.stepTimeout };
        // --pace: the steps are printed as they happen, each after Enter.
        let printed = 0;
        if (pacer) {
          human(`${text.variantHead(plan).join('\n')}\n`);
          opts.beforeStep = async (next, sofar) => {
            const { lines, next: at } = text.eventLines({ plan, ...sofar }, printed);
            printed = at;
            if (lines.length > 0) human(`${lines.join('\n')}\n`);
            await pacer.wait(`   ▶ next: ${next.worker} ${next.step} · Enter runs it, q quits `);
          };
        }
        let v: VariantReport;
        try {
          v = await runOne(plan, dialect, flags, io, pool, opts);
        } catch (e) {
          if (!(e instanceof SetupFailed)) throw e;
          const code = 'code' in e.error ? e.error.code : 'error';
          sr.error = { ...scenarioError(scenario, e.line, code, e.message), file: e.file };
          break;
        }
        sr.variants.push(v);
        if (pacer) human(`${[...text.eventLines(v.run, printed).lines, ...text.variantTail(v)].join('\n')}\n`);
        else human(text.variant(v));
        const fault = v.verdict.fault;
        if (fault) {
          sr.error = scenarioError(scenario, fault.line, fault.code, fault.message);
          break;
        }
      }
    } finally {
      await pool.close();
    }
    if (sr.error) {
      // On stderr as every scenario problem is, and in the text report where it happened.
      io.err(`${sr.error.file}:${sr.error.line}: ${sr.error.message}\n`);
      human(text.scenarioError(sr.error));
    }
  }
  if (!nothingRan(report)) human(text.summary(report));
  return report;
}

/** One variant in the mode the flags ask for, with a progress bar on a terminal. */
function runOne(plan: VariantPlan, dialect: Dialect, flags: RunFlags, io: Io, pool: LanePool, opts: RunOptions): Promise<VariantReport> {
  if (flags.interleavings) {
    return runInterleavings(
      dialect,
      plan,
      flags.maxInterleavings ?? DEFAULT_INTERLEAVINGS,
      opts,
      pool,
      progress(io, plan, 'interleavings'),
      flags.concurrency,
    );
  }
  if (flags.stress !== undefined) {
    const bar = progress(io, plan, 'runs');
    return runStress(dialect, plan, flags.stress, pool, opts, (done) => bar(done, flags.stress!));
  }
  return runScheduled(dialect, plan, opts, pool);
}

/** Runs at once: --concurrency, or the mode's default (one run at a time on the schedule). */
function lanesFor(flags: RunFlags): number {
  if (flags.interleavings) return flags.concurrency ?? DEFAULT_INTERLEAVING_LANES;
  if (flags.stress !== undefined) return flags.concurrency ?? DEFAULT_CONCURRENCY;
  return 1;
}

const BAR_WIDTH = 24;

/**
 * A progress bar on stderr while runs go, only when stderr is a terminal (nothing on a pipe or a
 * file), erased when the last run is done: `  transfer-lost-update bug [██████░░░░] 120/200 runs`.
 */
function progress(io: Io, plan: VariantPlan, unit: string): (done: number, of: number) => void {
  if (!io.errIsTTY) return () => undefined;
  const label = `${plan.scenario.name} ${plan.fix ? `fix ${plan.name}` : 'bug'}`;
  return (done, of) => {
    const full = of > 0 ? Math.round((BAR_WIDTH * done) / of) : BAR_WIDTH;
    const bar = `${'█'.repeat(full)}${'░'.repeat(BAR_WIDTH - full)}`;
    io.err(`\r\x1b[2K  ${label} [${bar}] ${done}/${of} ${unit}${done === of ? '\r\x1b[2K' : ''}`);
  };
}

function scenarioError(sc: Scenario, line: number, code: string, message: string): ScenarioError {
  return { kind: 'scenario-sql', file: sc.file, line, code, message };
}

/** Every report that was asked for, then the exit code. */
function finish(report: Report, flags: RunFlags, _io: Io, out: Outcome): ExitCode {
  const errors = scenarioErrors(report);
  const failure =
    errors.length > 0
      ? {
          kind: 'invalid-scenario' as const,
          message: `the SQL of ${errors.length} scenario${errors.length > 1 ? 's' : ''} failed`,
          problems: errors.map((e) => ({ file: e.file, line: e.line, message: e.message })),
        }
      : undefined;
  if (flags.json) out.report(toJson(report, { verbose: flags.verbose, error: failure }));
  for (const [flag, file, render] of reportFiles(flags)) {
    try {
      writeFileSync(file, render(report));
    } catch (e) {
      return out.fail(EXIT.USAGE, 'usage', `${flag} ${file}: cannot write: ${fsReason(e)}`);
    }
  }
  if (errors.length > 0) return EXIT.USAGE;
  // Every scenario skipped proves nothing, so it does not pass.
  if (nothingRan(report)) {
    return out.fail(
      EXIT.NOT_MET,
      'usage',
      `nothing ran: ${(report.skipped ?? []).map((k) => k.scenario.name).join(', ')} skipped on ${report.database.dialect}`,
    );
  }
  return reportOk(report) ? EXIT.OK : EXIT.NOT_MET;
}

/** The report files asked for: flag, file, renderer. */
function reportFiles(flags: RunFlags): [string, string, (r: Report) => string][] {
  const all: [string, string | undefined, (r: Report) => string][] = [
    ['--junit', flags.junit, toJUnit],
    ['--html', flags.html, toHtml],
    ['--mermaid', flags.mermaid, toMermaid],
  ];
  return all.flatMap(([flag, file, render]) =>
    file !== undefined ? [[flag, file, render] as [string, string, (r: Report) => string]] : [],
  );
}

function textReporter(flags: RunFlags, io: Io): TextReporter {
  return new TextReporter({ color: flags.color !== false && io.isTTY && !io.env.NO_COLOR, verbose: !!flags.verbose });
}

/**
 * How the run ends for the user: one stderr line per failure and, with --json, exactly one JSON
 * object on stdout (the report, or the contract's error object when there is no report).
 */
class Outcome {
  private printed = false;
  constructor(
    private readonly io: Io,
    private readonly asJson: boolean,
  ) {}

  report(doc: unknown): void {
    this.printed = true;
    this.io.out(`${JSON.stringify(doc, null, 2)}\n`);
  }

  /** A failure already printed on stderr (problems): the JSON error object only. */
  json(
    code: ExitCode,
    kind: FailureKind,
    message: string,
    problems: readonly { file: string; line: number; message: string }[] = [],
  ): ExitCode {
    if (this.asJson && !this.printed) this.report(jsonFailure(kind, message, problems));
    return code;
  }

  fail(code: ExitCode, kind: FailureKind, message: string): ExitCode {
    this.io.err(`lockrepro: ${message}\n`);
    return this.json(code, kind, message);
  }
}

/** `no space left on device (ENOSPC)`: Node's own words for an errno, without the call and path. */
function fsReason(e: unknown): string {
  const { code, message } = e as NodeJS.ErrnoException;
  const words = code ? new RegExp(`^${code}: ([^,]+)`).exec(message)?.[1] : undefined;
  return words ? `${words} (${code})` : (code ?? message);
}

/** Why `file` cannot be written (created or replaced), or null when it can. Writes nothing. */
function unwritable(file: string): string | null {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  try {
    const st = statSync(abs, { throwIfNoEntry: false });
    if (st?.isDirectory()) return 'is a folder';
    if (st) accessSync(abs, fsc.W_OK);
    else if (!statSync(dir).isDirectory()) return `${dir} is not a folder`;
    else accessSync(dir, fsc.W_OK | fsc.X_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `folder ${dir} does not exist`;
    if (code === 'ENOTDIR') return `${dir} is not a folder`;
    return `not writable (${code ?? (e as Error).message})`;
  }
}
