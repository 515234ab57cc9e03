/**
 * The command line. `main(argv)` returns the exit code; only bin/lockrepro.js calls process.exit.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ISOLATION_LEVELS, SCRATCH_KINDS } from '../vocabulary.js';
import { formatProblem, type Problem } from '../scenario/parse.js';
import { builtinFiles, loadFile, loadTargets } from '../scenario/load.js';
import type { Scenario } from '../scenario/model.js';
import { scenarioJsonSchema } from '../scenario/schema.js';
import { showScenario } from '../report/show.js';
import { fitWidth } from '../report/format.js';
import { listJson, listText } from '../report/list.js';
import { scrubUrls } from '../util/redact.js';
import { internalErrorText } from './errors.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { OUTPUT_CLOSED, jsonFailure, processIo, type Io } from './io.js';
import type { MatrixFlags } from './matrix-command.js';
import type { RunFlags } from './run-command.js';
import { DEFAULT_CONCURRENCY, DEFAULT_INTERLEAVINGS } from './defaults.js';

export { EXIT, internalErrorText };

export { OUTPUT_CLOSED, processIo, type Io };

// For bin/lockrepro.js, which gives the bundle its import() (see import-package.ts).
export { setPackageImporter } from '../dialect/import-package.js';

export async function main(argv: readonly string[], rawIo: Io = processIo()): Promise<ExitCode> {
  // The output boundary: everything lockrepro prints (its own lines, commander's errors, which
  // echo the user's arguments, reports) loses the password of any URL in it here. By position
  // only: replacing the password's text everywhere would turn a password like "postgres" or "1"
  // into damage all over the report (`"dialect": "***"`, invalid JSON). Driver messages, the
  // one free text that could repeat a password, are scrubbed where they are caught (src/dialect).
  // With --json, stdout holds one JSON object on every exit, also when the command line itself is
  // wrong (commander stops before any action) or lockrepro fails.
  const json = argv.includes('--json');
  // On a terminal, text is wrapped to its width; never JSON, and never on a pipe (goldens, tools).
  const columns = rawIo.isTTY && !json && argv[0] !== 'schema' ? rawIo.columns : undefined;
  const fit = (t: string) => (columns ? fitWidth(t, columns) : t);
  const io: Io = { ...rawIo, out: (t) => rawIo.out(fit(scrubUrls(t))), err: (t) => rawIo.err(scrubUrls(t)) };
  try {
    return await parseAndRun(argv, io, json);
  } catch (e) {
    // Anything not handled where it happened is lockrepro's bug: one line, exit 4.
    const message = internalErrorText(e, io.env);
    if (json) io.out(`${JSON.stringify(jsonFailure('internal', message.split('\n')[0]!), null, 2)}\n`);
    return fail(io, EXIT.INTERNAL, message);
  }
}

async function parseAndRun(argv: readonly string[], io: Io, json: boolean): Promise<ExitCode> {
  let code: ExitCode = EXIT.OK;
  let usageError = '';
  const program = new Command('lockrepro')
    .description('Make database deadlocks and race conditions happen on purpose, deterministically, next to their fix.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      outputError: (s, write) => {
        usageError = oneLine(s).trim();
        write(oneLine(s));
      },
    })
    .showSuggestionAfterError();

  program
    .command('run')
    .description('run scenarios (files, folders or built-in names) and report each variant')
    .argument('<scenario...>', 'file path(s), a folder, or a built-in name (e.g. transfer-lost-update)')
    .option('--db <url>', 'postgres://…, mysql://… or mariadb://… (default: embedded PostgreSQL; env LOCKREPRO_DB)')
    .option('--variant <name...>', 'variants to run: bug and/or fix names (default: all)')
    .addOption(
      new Option('--isolation <level...>', "isolation level(s) to run every variant at (default: scenario's)").choices(ISOLATION_LEVELS),
    )
    .addOption(scratchOption())
    .option('--json', 'print the result as JSON on stdout')
    .option('--junit <file>', 'also write a JUnit XML report to this file')
    .option('--html <file>', 'also write one self-contained HTML page: a timeline per variant (no network)')
    .option('--mermaid <file>', 'also write Markdown with a Mermaid sequence diagram per variant')
    .option('--interleavings', "run every interleaving of the workers' steps instead of the schedule")
    .option(
      '--max-interleavings <n>',
      `with --interleavings: at most n per variant, evenly spread (default ${DEFAULT_INTERLEAVINGS})`,
      interleavingLimit,
    )
    .option('--stress <n>', 'run each variant n times with its workers truly concurrent (no schedule): how often it happens', stressRuns)
    .option(
      '--concurrency <c>',
      `with --stress or --interleavings: runs at once, each in its own scratch database (default ${DEFAULT_CONCURRENCY} with --stress; with --interleavings one per 25 interleavings, at most twice the CPU cores or 4)`,
      concurrencyLimit,
    )
    .option(
      '--step-timeout <ms>',
      "a step still running after this long (not waiting on another worker's lock), or waiting while nothing else can move, is a hang (default 5000)",
      positiveInt,
    )
    .option('--verbose', 'add PIDs, timings and server error details')
    .option('--no-color', 'plain text even on a terminal')
    .option('--pace', 'in a terminal: wait for Enter before each step (q quits, dropping the scratch database)')
    .action(async (targets: string[], flags: RunFlags) => {
      // Loaded when needed: `check`, `list` and `show` never load the engine, reporters or drivers.
      const { runCommand } = await import('./run-command.js');
      code = await runCommand(targets, flags, io);
    });

  program
    .command('matrix')
    .description("each scenario's bug at every isolation level on each database: what shows where (a table; exit 0 whatever it shows)")
    .argument('<scenario...>', 'file path(s), a folder, or a built-in name (e.g. write-skew)')
    .option(
      '--db <url>',
      'a database to ask, repeatable: postgres://…, mysql://… or mariadb://… (default: embedded PostgreSQL; env LOCKREPRO_DB)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .addOption(new Option('--isolation <level...>', 'only these isolation levels (default: all four)').choices(ISOLATION_LEVELS))
    .addOption(scratchOption())
    .option('--json', 'print the matrix as JSON on stdout')
    .option('--step-timeout <ms>', 'a step still running after this long, not waiting on a lock, is a hang (default 5000)', positiveInt)
    .option('--no-color', 'plain text even on a terminal')
    .action(async (targets: string[], flags: MatrixFlags) => {
      const { matrixCommand } = await import('./matrix-command.js');
      code = await matrixCommand(targets, flags, io);
    });

  program
    .command('check')
    .description('validate scenario files without running them')
    .argument('<scenario...>', 'file path(s), a folder, or a built-in name')
    .action((targets: string[]) => {
      const loaded = load(targets, io);
      if (!loaded) {
        code = EXIT.USAGE;
        return;
      }
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
      if (!loaded) {
        code = EXIT.USAGE;
        return;
      }
      for (const s of loaded) io.out(showScenario(s));
    });

  program
    .command('schema')
    .description('print the JSON Schema of scenario files')
    .action(() => {
      io.out(`${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
    });

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; every parse error is bad usage.
      if (e.exitCode === 0) return EXIT.OK;
      if (json) io.out(`${JSON.stringify(jsonFailure('usage', usageError.replace(/^error: /, '')), null, 2)}\n`);
      return EXIT.USAGE;
    }
    throw e;
  }
  return code;
}

const VERSION = '0.1.0';
const MAX_TIMER_MS = 2 ** 31 - 1;

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
const stressRuns = wholeNumber(MAX_INTERLEAVINGS, 'runs');
const concurrencyLimit = wholeNumber(32, 'runs at once');

function oneLine(s: string): string {
  return `${s.trim().split('\n')[0]}\n`;
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
  printProblems(
    rows.flatMap((r) => r.problems),
    io,
  );
  io.out(json ? `${JSON.stringify(listJson(scenarios), null, 2)}\n` : listText(scenarios));
  return rows.some((r) => r.problems.length > 0) ? EXIT.USAGE : EXIT.OK;
}

function fail(io: Io, code: ExitCode, message: string): ExitCode {
  io.err(`lockrepro: ${message}\n`);
  return code;
}

/** `--scratch`, the same for run and matrix (a new Option each: commander keeps parsed state in it). */
function scratchOption(): Option {
  return new Option(
    '--scratch <kind>',
    'where setup goes: a database lockrepro creates, or (PostgreSQL) a schema it creates in the --db database',
  )
    .choices(SCRATCH_KINDS)
    .default('database');
}
