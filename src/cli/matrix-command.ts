/**
 * `lockrepro matrix`: each scenario's bug at every isolation level on each database given, as a
 * table (or --json). Every database is connected before anything runs, so an unreachable one is
 * exit 3 before minutes of work. Exit 0 whatever the cells show: the matrix asks, it expects
 * nothing. Exit 2 when a scenario's own SQL failed (its cells say where), after every cell ran.
 */
import { connectDatabase } from '../dialect/connect.js';
import type { Dialect } from '../engine/dialect.js';
import { BadDatabaseUrl } from '../errors.js';
import { RunAborted } from '../engine/run.js';
import { matrixProblems, runMatrix, type MatrixCell } from '../modes/matrix.js';
import { loadTargets } from '../scenario/load.js';
import { formatProblem } from '../scenario/parse.js';
import { matrixJson, matrixText } from '../report/matrix.js';
import { ISOLATION_LEVELS, type IsolationLevel, type ScratchKind } from '../vocabulary.js';
import { classifyRunError } from './errors.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { OUTPUT_CLOSED, jsonFailure, type FailureKind, type Io } from './io.js';

export interface MatrixFlags {
  db?: string[];
  isolation?: IsolationLevel[];
  json?: boolean;
  stepTimeout?: number;
  color?: boolean;
  scratch?: ScratchKind;
}

export async function matrixCommand(targets: string[], flags: MatrixFlags, io: Io): Promise<ExitCode> {
  const failed = (
    code: ExitCode,
    kind: FailureKind,
    message: string,
    problems: { file: string; line: number; message: string }[] = [],
    quiet = false,
  ): ExitCode => {
    if (!quiet) io.err(`lockrepro: ${message}\n`);
    if (flags.json) io.out(`${JSON.stringify(jsonFailure(kind, message, problems), null, 2)}\n`);
    return code;
  };
  const loaded = loadTargets(targets);
  if (loaded.missing.length > 0 || loaded.problems.length > 0) {
    for (const m of loaded.missing) io.err(`${m}\n`);
    for (const p of loaded.problems) io.err(`${formatProblem(p)}\n`);
    const kind = loaded.problems.length > 0 ? 'invalid-scenario' : 'usage';
    return failed(
      EXIT.USAGE,
      kind,
      [...loaded.missing, ...loaded.problems.map(formatProblem)].join('; '),
      loaded.problems.map((p) => ({ file: p.file, line: p.line, message: p.message })),
      true,
    );
  }
  const given = flags.db ?? [];
  if (given.includes(''))
    return failed(EXIT.USAGE, 'usage', '--db is empty (an unset variable?): give a URL, or leave --db out for the embedded PostgreSQL');
  // No --db: LOCKREPRO_DB, as for `run`, else the embedded PostgreSQL (undefined).
  const urls: (string | undefined)[] = given.length > 0 ? given : [io.env.LOCKREPRO_DB || undefined];

  const dialects: Dialect[] = [];
  try {
    for (const url of urls) {
      if (io.signal?.aborted) throw new RunAborted();
      try {
        dialects.push(await connectDatabase(url, { signal: io.signal, scratch: flags.scratch }));
      } catch (e) {
        if (e instanceof BadDatabaseUrl) return failed(EXIT.USAGE, 'usage', e.message);
        if (io.signal?.aborted) throw new RunAborted();
        throw e;
      }
    }
    const problems = dialects.flatMap((d) => matrixProblems(loaded.scenarios, d));
    if (problems.length > 0) {
      for (const p of problems) io.err(`${formatProblem(p)}\n`);
      return failed(EXIT.USAGE, 'invalid-scenario', problems.map(formatProblem).join('; '), problems, true);
    }
    const cells: MatrixCell[] = [];
    const progress = progressLine(io, loaded.scenarios.length * (flags.isolation?.length || ISOLATION_LEVELS.length) * dialects.length);
    for (const d of dialects) {
      cells.push(
        ...(await runMatrix(loaded.scenarios, d, {
          isolations: flags.isolation,
          signal: io.signal,
          stepTimeoutMs: flags.stepTimeout,
          onCell: progress,
        })),
      );
    }
    progress(null);
    const broken = cells.filter((c) => c.status === 'error');
    const error =
      broken.length > 0
        ? {
            kind: 'invalid-scenario',
            message: `the SQL of ${new Set(broken.map((c) => c.scenario)).size} scenario(s) failed`,
            problems: broken.map((c) => ({
              file: c.error!.file,
              line: c.error!.line,
              message: `${c.isolation} on ${c.database.dialect}: ${c.error!.message}`,
            })),
          }
        : undefined;
    const databases = dialects.map((d) => d.info);
    if (flags.json) io.out(`${JSON.stringify(matrixJson(databases, cells, { error }), null, 2)}\n`);
    else io.out(matrixText(databases, cells, { color: flags.color !== false && io.isTTY && !io.env.NO_COLOR }));
    for (const p of error?.problems ?? []) io.err(`${p.file}:${p.line}: ${p.message}\n`);
    return error ? EXIT.USAGE : EXIT.OK;
  } catch (e) {
    if (e instanceof RunAborted) {
      if (io.signal?.reason === OUTPUT_CLOSED) return EXIT.INTERRUPTED;
      return failed(EXIT.INTERRUPTED, 'interrupted', 'interrupted: scratch databases dropped');
    }
    const c = classifyRunError(e, io.env);
    return failed(c.code, c.code === EXIT.DATABASE ? 'database' : 'internal', c.message);
  } finally {
    // Each database closed (the embedded server stopped), whatever happened.
    await Promise.all(dialects.map((d) => d.close().catch(() => undefined)));
  }
}

/** `scenario level on engine: n/total` on stderr while cells run, only when stderr is a terminal. */
function progressLine(io: Io, total: number): (cell: MatrixCell | null) => void {
  let done = 0;
  if (!io.errIsTTY) return () => undefined;
  return (cell) => {
    if (!cell) return void io.err('\r\x1b[2K');
    done++;
    io.err(`\r\x1b[2K  ${cell.scenario.name} at ${cell.isolation} on ${cell.database.dialect}: ${done}/${total} cells`);
  };
}
