/**
 * `:name` references in step SQL. Saved values are bound as driver parameters, never pasted into
 * the text, so each reference becomes the dialect's placeholder. The scan skips quoted strings,
 * quoted identifiers, dollar quotes and comments, and PostgreSQL's `::type` casts.
 *
 * Strings are lexed as the engine does: MySQL/MariaDB take backslash escapes in '…' and "…";
 * PostgreSQL only in E'…' (elsewhere `\` is a plain character, so 'C:\' ends at its quote).
 */
import type { EngineName } from '../vocabulary.js';
import { ENGINES } from '../vocabulary.js';
import { sqlTokens } from './sql-lexer.js';
import type { Sql } from './model.js';

export interface ParamSql {
  /** Names in order of occurrence (a name used twice appears twice). */
  names: string[];
  /** The SQL with the n-th reference replaced by `placeholder(n)` (1-based). */
  render(placeholder: (n: number) => string): string;
}

export function parseParams(sql: string, engine: EngineName): ParamSql {
  const refs = sqlTokens(sql, engine).filter((t) => t.kind === 'param');
  const names = refs.map((t) => t.name);
  // The text between references, so a renderer can put any placeholder in their place.
  const parts = refs.map((t, k) => sql.slice(k === 0 ? 0 : refs[k - 1]!.end, t.start));
  parts.push(sql.slice(refs.length === 0 ? 0 : refs[refs.length - 1]!.end));
  return {
    names,
    render: (placeholder) => parts.map((p, k) => (k < names.length ? p + placeholder(k + 1) : p)).join(''),
  };
}

/** Every name a piece of SQL references, on any engine it may run on. */
export function referencedNames(sql: Sql): Set<string> {
  const names = new Set<string>();
  const texts: [string | undefined, readonly EngineName[]][] = [
    [sql.all, ENGINES],
    ...Object.entries(sql.byEngine).map(([e, t]) => [t, [e as EngineName]] as [string, EngineName[]]),
  ];
  for (const [text, engines] of texts) {
    if (text) for (const e of engines) for (const n of parseParams(text, e).names) names.add(n);
  }
  return names;
}
