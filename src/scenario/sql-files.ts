/**
 * `{ file: … }` setup and teardown entries: the files are read when the scenario is checked (so a
 * missing file or an unterminated quote is a problem of the scenario, exit 2, before any database
 * work), and split into statements for the engine that runs them.
 */
import path from 'node:path';
import { readRegularFile } from '../util/read-file.js';
import { ENGINE_SQL, ENGINES, type EngineName } from '../vocabulary.js';
import { ownValue, sqlFor } from './engines.js';
import type { Sql } from './model.js';
import { splitStatements } from './sql-lexer.js';

/** A problem in another file than the scenario (a .sql file), or in the scenario itself. */
export interface FileProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface SqlFileContext {
  /** The scenario file as shown in messages. */
  readonly scenarioFile: string;
  /** The folder relative paths are read from: the scenario file's own. */
  readonly dir: string;
  /** Engines whose reading of the files is checked: those the scenario declares, else all. */
  readonly engines: readonly EngineName[];
}

/** One statement to run: its text and where it came from (`file` only when not the scenario). */
export interface FileStatement {
  readonly sql: string;
  readonly line: number;
  readonly file?: string;
}

/**
 * Read the files of a `{ file: … }` entry at scenario line `line` (`where`: `setup[0]`). The Sql
 * holds each file's text, so coverage and engine choice work as for inline SQL. Problems: an
 * unreadable file at the entry's line; a file that cannot be split at its own line.
 */
export function readSqlFiles(
  input: string | Readonly<Partial<Record<EngineName, string>>>,
  line: number,
  where: string,
  ctx: SqlFileContext,
): { sql: Sql; problems: FileProblem[] } {
  const problems: FileProblem[] = [];
  const shown = (rel: string) => (path.isAbsolute(rel) ? rel : path.join(path.dirname(ctx.scenarioFile), rel));
  const read = (rel: string): string | undefined => {
    const r = readRegularFile(path.resolve(ctx.dir, rel));
    if ('text' in r) return r.text;
    problems.push({ file: ctx.scenarioFile, line, message: `${where}: file ${rel}: ${r.problem}` });
    return undefined;
  };
  let sql: Sql;
  if (typeof input === 'string') {
    sql = { all: read(input), byEngine: {}, line, file: { all: shown(input), byEngine: {} } };
  } else {
    const byEngine: Partial<Record<EngineName, string>> = {};
    const files: Partial<Record<EngineName, string>> = {};
    for (const e of ENGINES) {
      const rel = input[e];
      if (rel === undefined) continue;
      const text = read(rel);
      if (text !== undefined) byEngine[e] = text;
      files[e] = shown(rel);
    }
    sql = { byEngine, line, file: { byEngine: files } };
  }
  if (problems.length > 0) return { sql, problems };
  return { sql, problems: splitProblems(sql, where, ctx) };
}

/**
 * Whether each file splits for the engines that may run it. A file shared by every engine may
 * split for one reading and not the other (a `$$` body has no meaning to MySQL): then the
 * problem says which reading failed.
 */
function splitProblems(sql: Sql, where: string, ctx: SqlFileContext): FileProblem[] {
  const found = new Map<string, { problem: FileProblem; engines: EngineName[] }>();
  const covered = ctx.engines.filter((e) => sqlFor(sql, e) !== undefined);
  for (const engine of covered) {
    const r = statementsFor(sql, engine);
    if (!('problem' in r)) continue;
    const key = `${r.problem.file}:${r.problem.line}:${r.problem.message}`;
    const seen = found.get(key);
    if (seen) seen.engines.push(engine);
    else found.set(key, { problem: r.problem, engines: [engine] });
  }
  const lexes = (es: readonly EngineName[]) => new Set(es.map((e) => ENGINE_SQL[e].mysqlLexis)).size;
  return [...found.values()].map(({ problem, engines }) => {
    const as = lexes(engines) < lexes(covered) ? `, read as ${engines.join(' and ')} SQL` : '';
    return { ...problem, message: `${problem.message} (${where} at ${ctx.scenarioFile}:${sql.line}${as})` };
  });
}

/** The statements an entry runs on `engine`: a file's, split as its client would, or the inline SQL. */
export function statementsFor(sql: Sql, engine: EngineName): { statements: FileStatement[] } | { problem: FileProblem } {
  const text = sqlFor(sql, engine)!;
  if (!sql.file) return { statements: [{ sql: text, line: sql.line }] };
  const file = sql.file.all ?? ownValue(sql.file.byEngine, engine)!;
  const r = splitStatements(text, engine);
  if ('problem' in r) return { problem: { file, ...r.problem } };
  return { statements: r.statements.map((s) => ({ ...s, file })) };
}
