/**
 * `:name` references in step SQL. Saved values are bound as driver parameters, never pasted into
 * the text, so each reference becomes the dialect's placeholder. The scan skips quoted strings,
 * quoted identifiers, dollar quotes and comments, and PostgreSQL's `::type` casts.
 *
 * Strings are lexed as the engine does: MySQL/MariaDB take backslash escapes in '…' and "…";
 * PostgreSQL only in E'…' (elsewhere `\` is a plain character, so 'C:\' ends at its quote).
 */
import type { EngineName } from '../vocabulary.js';
import { ENGINE_SQL, ENGINES } from '../vocabulary.js';
import type { Sql } from './model.js';

export interface ParamSql {
  /** Names in order of occurrence (a name used twice appears twice). */
  names: string[];
  /** The SQL with the n-th reference replaced by `placeholder(n)` (1-based). */
  render(placeholder: (n: number) => string): string;
}

export function parseParams(sql: string, engine: EngineName): ParamSql {
  const backslashes = ENGINE_SQL[engine].backslashEscapes;
  const parts: string[] = []; // text between references
  const names: string[] = [];
  let last = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "'" || c === '"' || c === '`') {
      const escapeString = c === "'" && /[Ee]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_$]/.test(sql[i - 2] ?? '');
      const escapes = c !== '`' && (backslashes ? true : escapeString);
      i = skipQuoted(sql, i, c, escapes);
    } else if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === '$' && /[A-Za-z_$]/.test(next ?? '')) {
      i = skipDollar(sql, i);
    } else if (c === ':' && next === ':') {
      i += 2; // a cast, ::int
    } else if (c === ':' && /[A-Za-z_]/.test(next ?? '') && sql[i - 1] !== ':') {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))!;
      parts.push(sql.slice(last, i));
      names.push(m[0]);
      i += 1 + m[0].length;
      last = i;
    } else {
      i++;
    }
  }
  parts.push(sql.slice(last));
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

function skipQuoted(sql: string, start: number, q: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === '\\' && backslashEscapes) i += 2;
    else if (sql[i] === q && sql[i + 1] === q) i += 2; // doubled quote
    else if (sql[i] === q) return i + 1;
    else i++;
  }
  return sql.length;
}

function skipDollar(sql: string, start: number): number {
  const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(start));
  if (!m) return start + 1;
  const end = sql.indexOf(m[0], start + m[0].length);
  return end < 0 ? sql.length : end + m[0].length;
}
