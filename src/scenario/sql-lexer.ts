/**
 * The one SQL lexer: splits statement text into the tokens lockrepro needs to find (`:name`
 * references, `?` placeholders, words, string values), skipping what must not be looked into
 * (strings, quoted names, comments) the way the engine itself reads the text.
 */
import { ENGINE_SQL, type EngineName } from '../vocabulary.js';

export type SqlToken = { readonly start: number; readonly end: number } & (
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'quoted-name' | 'comment' | 'placeholder' }
  | { readonly kind: 'word' | 'symbol'; readonly text: string }
  /** A `:name` reference to a saved value (not a `::type` cast). */
  | { readonly kind: 'param'; readonly name: string }
);

const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y;
const DOLLAR = /\$([A-Za-z_][A-Za-z0-9_]*)?\$/y;

export function sqlTokens(sql: string, engine: EngineName): SqlToken[] {
  const { backslashEscapes, mysqlLexis } = ENGINE_SQL[engine];
  const out: SqlToken[] = [];
  const n = sql.length;
  let i = 0;
  const at = (re: RegExp, from: number) => {
    re.lastIndex = from;
    return re.exec(sql);
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    const start = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || (c === '"' && mysqlLexis)) {
      // PostgreSQL takes backslash escapes only in E'…' strings.
      const eString = c === "'" && /[Ee]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_$]/.test(sql[i - 2] ?? '');
      const q = quoted(sql, i, c, backslashEscapes || eString);
      out.push({ kind: 'string', value: q.value, start, end: q.end });
      i = q.end;
    } else if (c === '"' || c === '`') {
      i = quoted(sql, i, c, false).end;
      out.push({ kind: 'quoted-name', start, end: i });
    } else if ((c === '-' && next === '-' && (!mysqlLexis || /\s/.test(sql[i + 2] ?? ' '))) || (c === '#' && mysqlLexis)) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl;
      out.push({ kind: 'comment', start, end: i });
    } else if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
      out.push({ kind: 'comment', start, end: i });
    } else if (c === '$' && !mysqlLexis && at(DOLLAR, i)) {
      const tag = at(DOLLAR, i)![0];
      const close = sql.indexOf(tag, i + tag.length);
      i = close < 0 ? n : close + tag.length;
      out.push({ kind: 'string', value: sql.slice(start + tag.length, close < 0 ? n : close), start, end: i });
    } else if (c === ':' && next === ':') {
      i += 2;
      out.push({ kind: 'symbol', text: '::', start, end: i });
    } else if (c === ':' && /[A-Za-z_]/.test(next ?? '')) {
      const name = at(WORD, i + 1)![0];
      i += 1 + name.length;
      out.push({ kind: 'param', name, start, end: i });
    } else if (c === '?') {
      i++;
      out.push({ kind: 'placeholder', start, end: i });
    } else if (/[A-Za-z_]/.test(c)) {
      const text = at(WORD, i)![0];
      i += text.length;
      out.push({ kind: 'word', text, start, end: i });
    } else {
      i++;
      out.push({ kind: 'symbol', text: c, start, end: i });
    }
  }
  return out;
}

/** A quoted run from `start` (the opening quote): its end and its value (doubled quotes and escapes resolved). */
function quoted(sql: string, start: number, q: string, escapes: boolean): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === '\\' && escapes) {
      value += sql[i + 1] ?? '';
      i += 2;
    } else if (c === q && sql[i + 1] === q) {
      value += q;
      i += 2;
    } else if (c === q) {
      return { value, end: i + 1 };
    } else {
      value += c;
      i++;
    }
  }
  return { value, end: sql.length };
}
