/**
 * The command line. `main(argv)` returns the exit code; only bin/lockrepro.js calls process.exit.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { accessSync, constants as fsc, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectDatabase } from '../dialect/connect.js';
import type { Dialect } from '../engine/dialect.js';
import { ISOLATION_LEVELS, type IsolationLevel } from '../vocabulary.js';
import { BadDatabaseUrl } from '../errors.js';
import { RunAborted, SetupFailed } from '../engine/run.js';
import { runInterleavings, runScheduled } from '../modes/run-modes.js';
import { engineSkipReason, planScenario, scenarioEngines, type VariantPlan } from '../plan/plan.js';
import { formatProblem, type Problem } from '../scenario/parse.js';
import { builtinFiles, loadFile, loadTargets } from '../scenario/load.js';
import type { Scenario } from '../scenario/model.js';
import { scenarioJsonSchema } from '../scenario/schema.js';
import { toJson } from '../report/json.js';
import { toJUnit } from '../report/junit.js';
import { nothingRan, reportOk, type Report, type ScenarioReport, type SkippedScenario } from '../report/model.js';
import { TextReporter } from '../report/text.js';
import { showScenario } from '../report/show.js';
import { redactUrl, scrubUrls } from '../util/redact.js';
import { classifyRunError, internalErrorText } from './errors.js';
import { EXIT, type ExitCode } from './exit-codes.js';

export { EXIT, internalErrorText };

/**
 * The abort reason bin/lockrepro.js gives when stdout or stderr is closed under it (EPIPE, as in
 * `lockrepro run x | head -1`): the run stops as on Ctrl-C, but without a message.
 */
export const OUTPUT_CLOSED = 'output closed';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (colours on unless NO_COLOR). */
  isTTY: boolean;
  /** Ctrl-C / SIGTERM: aborts a run, which then cleans up and returns 130. */
  signal?: AbortSignal;
}

export function processIo(signal?: AbortSignal): Io {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    isTTY: !!process.stdout.isTTY,
    signal,
  };
}

interface RunFlags {
  db?: string;
  variant?: string[];
  isolation?: IsolationLevel[];
  json?: boolean;
  junit?: string;
  verbose?: boolean;
  stepTimeout?: number;
  interleavings?: boolean;
  maxInterleavings?: number;
  color?: boolean;
}

export async function main(argv: readonly string[], rawIo: Io = processIo()): Promise<ExitCode> {
  // The output boundary: everything lockrepro prints (its own lines, commander's errors, which
  // echo the user's arguments, reports) loses the password of any URL in it here. By position
  // only: replacing the password's text everywhere would turn a password like "postgres" or "1"
  // into damage all over the report (`"dialect": "***"`, invalid JSON). Driver messages, the
  // one free text that could repeat a password, are scrubbed where they are caught (src/dialect).
  const io: Io = { ...rawIo, out: (t) => rawIo.out(scrubUrls(t)), err: (t) => rawIo.err(scrubUrls(t)) };
  try {
    return await parseAndRun(argv, io);
  } catch (e) {
    // Anything not handled where it happened is lockrepro's bug: one line, exit 4.
    return fail(io, EXIT.INTERNAL, internalErrorText(e, io.env));
  }
}

async function parseAndRun(argv: readonly string[], io: Io): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  const program = new Command('lockrepro')
    .description('Make database deadlocks and race conditions happen on purpose, deterministically, next to their fix.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (s, write) => write(oneLine(s)) })
    .showSuggestionAfterError();

  program
    .command('run')
    .description('run scenarios (files, folders or built-in names) and report each variant')
    .argument('<scenario...>', 'file path(s), a folder, or a built-in name (e.g. transfer-lost-update)')
    .option('--db <url>', 'postgres://…, mysql://… or mariadb://… (default: embedded PostgreSQL; env LOCKREPRO_DB)')
    .option('--variant <name...>', 'variants to run: bug and/or fix names (default: all)')
    .addOption(new Option('--isolation <level...>', "isolation level(s) to run every variant at (default: scenario's)").choices(ISOLATION_LEVELS))
    .option('--json', 'print the result as JSON on stdout')
    .option('--junit <file>', 'also write a JUnit XML report to this file')
    .option('--interleavings', "run every interleaving of the workers' steps instead of the schedule")
    .option('--max-interleavings <n>', `with --interleavings: at most n per variant, evenly spread (default ${DEFAULT_INTERLEAVINGS})`, interleavingLimit)
    .option('--step-timeout <ms>', "a step still running after this long (not waiting on another worker's lock), or waiting while nothing else can move, is a hang (default 5000)", positiveInt)
    .option('--verbose', 'add PIDs, timings and server error details')
    .option('--no-color', 'plain text even on a terminal')
    .action(async (targets: string[], flags: RunFlags) => {
      code = await runCommand(targets, flags, io);
    });

  program
    .command('check')
    .description('validate scenario files without running them')
    .argument('<scenario...>', 'file path(s), a folder, or a built-in name')
    .action((targets: string[]) => {
      const loaded = load(targets, io);
      if (!loaded) return void (code = EXIT.USAGE);
      for (const s of loaded) io.out(`${s.file}: ok (${s.name}: ${s.workers.length} workers, ${s.fixes.length} fixes)\n`);
    });

  program
    .command('list')
    .description('list the built-in scenarios')
    .option('--json', 'as JSON')
    .action((flags: { json?: boolean }) => {
      code = listCommand(io, !!flags.json);
    });

  program
    .command('show')
    .description('print a scenario: its story, workers, steps, schedule and fixes, without running it')
    .argument('<scenario>', 'a file path or a built-in name')
    .action((target: string) => {
      const loaded = load([target], io);
      if (!loaded) return void (code = EXIT.USAGE);
      for (const s of loaded) io.out(showScenario(s));
    });

  program
    .command('schema')
    .description('print the JSON Schema of scenario files')
    .action(() => {
      io.out(JSON.stringify(scenarioJsonSchema(), null, 2) + '\n');
    });

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; every parse error is bad usage.
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    throw e;
  }
  return code;
}

const VERSION = '0.1.0';
const MAX_TIMER_MS = 2 ** 31 - 1;

const DEFAULT_INTERLEAVINGS = 200;
const MAX_INTERLEAVINGS = 100_000;

/**
 * A flag's value parser: a whole number from 1 to `max`. Commander prints an InvalidArgumentError
 * with the option's name ("option '--step-timeout <ms>' argument 'abc' is invalid. …") through
 * outputError; any other error would escape unprinted.
 */
function wholeNumber(max: number, unit: string): (v: string) => number {
  return (v) => {
    const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= max)) throw new InvalidArgumentError(`Expected a whole number of ${unit} from 1 to ${max}.`);
    return n;
  };
}

/** --step-timeout: setTimeout's bound (a longer delay silently becomes 1 ms). */
const positiveInt = wholeNumber(MAX_TIMER_MS, 'milliseconds');
const interleavingLimit = wholeNumber(MAX_INTERLEAVINGS, 'runs');

function oneLine(s: string): string {
  return s.trim().split('\n')[0] + '\n';
}

/** Load and check targets; print every problem; null when any. */
function load(targets: readonly string[], io: Io): Scenario[] | null {
  const r = loadTargets(targets);
  for (const m of r.missing) io.err(`${m}\n`);
  printProblems(r.problems, io);
  return r.missing.length > 0 || r.problems.length > 0 ? null : r.scenarios;
}

function printProblems(problems: readonly Problem[], io: Io): void {
  for (const p of problems) io.err(`${formatProblem(p)}\n`);
}

function listCommand(io: Io, json: boolean): ExitCode {
  const rows = builtinFiles().map((f) => loadFile(f));
  const scenarios = rows.flatMap((r) => (r.scenario ? [r.scenario] : []));
  printProblems(rows.flatMap((r) => r.problems), io);
  if (json) {
    io.out(JSON.stringify(scenarios.map((s) => ({ name: s.name, title: s.title, seed: s.seed, engines: scenarioEngines(s), fixes: s.fixes.map((f) => f.name) })), null, 2) + '\n');
  } else {
    const width = Math.max(...scenarios.map((s) => s.name.length));
    for (const s of scenarios) {
      const engines = scenarioEngines(s).join(', ');
      io.out(`${s.name.padEnd(width)}  ${s.title}  [${engines}]\n`);
    }
  }
  return rows.some((r) => r.problems.length > 0) ? EXIT.USAGE : EXIT.OK;
}

async function runCommand(targets: string[], flags: RunFlags, io: Io): Promise<ExitCode> {
  const scenarios = load(targets, io);
  if (!scenarios) return EXIT.USAGE;
  // Refuse a report file that cannot be written before any database work, not after the run.
  const junitProblem = flags.junit !== undefined ? unwritable(flags.junit) : null;
  if (junitProblem) return fail(io, EXIT.USAGE, `--junit ${flags.junit}: ${junitProblem}`);
  const url = flags.db ?? (io.env.LOCKREPRO_DB || undefined);
  const text = new TextReporter({ color: flags.color !== false && io.isTTY && !io.env.NO_COLOR, verbose: !!flags.verbose });
  const human = (s: string) => {
    if (!flags.json) io.out(s);
  };

  let dialect: Dialect;
  try {
    dialect = await connectDatabase(url);
  } catch (e) {
    if (e instanceof BadDatabaseUrl) return fail(io, EXIT.USAGE, e.message);
    const c = classifyRunError(e, io.env);
    return fail(io, c.code, c.message);
  }
  try {
    if (io.signal?.aborted) throw new RunAborted();
    const engine = dialect.info.dialect;
    // Plan everything first so every scenario problem is reported before anything runs.
    const planned: { scenario: Scenario; plans: VariantPlan[] }[] = [];
    const skipped: SkippedScenario[] = [];
    const problems: Problem[] = [];
    for (const sc of scenarios) {
      const skip = engineSkipReason(sc, engine);
      if (skip) {
        io.err(`${sc.file}: skipped: ${skip}\n`);
        skipped.push({ scenario: sc, reason: skip });
        continue;
      }
      const r = planScenario(sc, { engine, placeholder: (n) => dialect.placeholder(n), variants: flags.variant, isolations: flags.isolation, runsAs: dialect.info.runsAs });
      problems.push(...r.problems);
      planned.push({ scenario: sc, plans: r.plans });
    }
    if (problems.length > 0) {
      printProblems(problems, io);
      return EXIT.USAGE;
    }

    human(text.database(dialect.info, dialect.info.embedded ? 'embedded' : redactUrl(url ?? '')));
    const report: Report = { database: dialect.info, scenarios: [], skipped };
    for (const { scenario, plans } of planned) {
      const sr: ScenarioReport = { scenario, variants: [] };
      report.scenarios.push(sr);
      human(text.scenario(scenario));
      for (const plan of plans) {
        // Ctrl-C or a closed stdout between variants: no new scratch database.
        if (io.signal?.aborted) throw new RunAborted();
        const opts = { signal: io.signal, stepTimeoutMs: flags.stepTimeout };
        const v = flags.interleavings
          ? await runInterleavings(dialect, plan, flags.maxInterleavings ?? DEFAULT_INTERLEAVINGS, opts)
          : await runScheduled(dialect, plan, opts);
        sr.variants.push(v);
        human(text.variant(v));
      }
    }
    if (!nothingRan(report)) human(text.summary(report));
    if (flags.json) io.out(JSON.stringify(toJson(report, { verbose: flags.verbose }), null, 2) + '\n');
    if (flags.junit) {
      try {
        writeFileSync(flags.junit, toJUnit(report));
      } catch (e) {
        return fail(io, EXIT.USAGE, `--junit ${flags.junit}: cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    // Every scenario skipped proves nothing, so it does not pass.
    if (nothingRan(report)) return fail(io, EXIT.NOT_MET, `nothing ran: ${skipped.map((k) => k.scenario.name).join(', ')} skipped on ${engine}`);
    return reportOk(report) ? EXIT.OK : EXIT.NOT_MET;
  } catch (e) {
    if (e instanceof RunAborted) {
      // A reader that went away (`| head`) is told nothing: it is not listening.
      return io.signal?.reason === OUTPUT_CLOSED ? EXIT.INTERRUPTED : fail(io, EXIT.INTERRUPTED, 'interrupted: scratch databases dropped');
    }
    if (e instanceof SetupFailed) return fail(io, EXIT.USAGE, `${e.file}:${e.line}: ${e.message}`);
    const c = classifyRunError(e, io.env);
    return fail(io, c.code, c.message);
  } finally {
    await dialect.close().catch(() => undefined);
  }
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

function fail(io: Io, code: ExitCode, message: string): ExitCode {
  io.err(`lockrepro: ${message}\n`);
  return code;
}
