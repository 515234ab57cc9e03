/**
 * The one SQL lexer: splits statement text into the tokens lockrepro needs to find (`:name`
 * references, `?` placeholders, words, string values), skipping what must not be looked into
 * (strings, quoted names, comments) the way the engine itself reads the text.
 */
import { ENGINE_SQL, type EngineName } from '../vocabulary.js';

export type SqlToken = {
  readonly start: number;
  readonly end: number;
  /** A string, quoted name or comment still open at the end of the text: what was left open. */
  readonly unterminated?: string;
} & (
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
      out.push({ kind: 'string', value: q.value, start, end: q.end, ...open(q.open, `${c}…${c} string`) });
      i = q.end;
    } else if (c === '"' || c === '`') {
      const q = quoted(sql, i, c, false);
      i = q.end;
      out.push({ kind: 'quoted-name', start, end: i, ...open(q.open, `${c}…${c} quoted name`) });
    } else if ((c === '-' && next === '-' && (!mysqlLexis || /\s/.test(sql[i + 2] ?? ' '))) || (c === '#' && mysqlLexis)) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl;
      out.push({ kind: 'comment', start, end: i });
    } else if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
      out.push({ kind: 'comment', start, end: i, ...open(close < 0, '/* comment') });
    } else if (c === '$' && !mysqlLexis && at(DOLLAR, i)) {
      const tag = at(DOLLAR, i)![0];
      const close = sql.indexOf(tag, i + tag.length);
      i = close < 0 ? n : close + tag.length;
      out.push({
        kind: 'string',
        value: sql.slice(start + tag.length, close < 0 ? n : close),
        start,
        end: i,
        ...open(close < 0, `dollar quote ${tag}`),
      });
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

const open = (isOpen: boolean, what: string) => (isOpen ? { unterminated: what } : {});

/** A quoted run from `start` (the opening quote): its end and its value (doubled quotes and escapes resolved). */
function quoted(sql: string, start: number, q: string, escapes: boolean): { value: string; end: number; open: boolean } {
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
      return { value, end: i + 1, open: false };
    } else {
      value += c;
      i++;
    }
  }
  return { value, end: sql.length, open: true };
}

/** One statement of a SQL file, with the 1-based line it starts on. */
export interface SplitStatement {
  readonly sql: string;
  readonly line: number;
}

export type SplitResult = { readonly statements: SplitStatement[] } | { readonly problem: { line: number; message: string } };

const DELIMITER_COMMAND = /delimiter(?=\s|$)/iy;

/**
 * A file of statements → one statement at a time, cut where the engine's own client (psql, the
 * mysql client) would send it: at `;` outside strings, quoted names, comments and, on PostgreSQL,
 * dollar quotes and parentheses. MySQL's `DELIMITER x` is a command of its client, not SQL: it
 * changes what ends a statement (for bodies of procedures and triggers) and is not sent.
 */
export function splitStatements(text: string, engine: EngineName): SplitResult {
  const { mysqlLexis } = ENGINE_SQL[engine];
  const tokens = sqlTokens(text, engine);
  const lineAt = lineCounter(text);
  // Only strings, quoted names and comments hide a delimiter; the mysql client looks for one at
  // every other character (`END$$` ends a statement), so the text between them is scanned as is.
  const opaque = tokens.filter((t) => t.kind === 'string' || t.kind === 'quoted-name' || t.kind === 'comment');
  const statements: SplitStatement[] = [];
  let delimiter = ';';
  let start = -1;
  let depth = 0;
  let k = 0;
  const end = (at: number) => {
    if (start >= 0) statements.push({ sql: text.slice(start, at).trim(), line: lineAt(start) });
    start = -1;
    depth = 0;
  };
  for (let i = 0; i < text.length; ) {
    const tok = opaque[k];
    if (tok && tok.start === i) {
      k++;
      if (tok.unterminated) return { problem: { line: lineAt(tok.start), message: `unterminated ${tok.unterminated}` } };
      // MySQL runs `/*! … */` (mysqldump's version comments): those are statements of their own.
      const runs = tok.kind !== 'comment' || (mysqlLexis && text.startsWith('/*!', tok.start));
      if (runs && start < 0) start = i;
      i = tok.end;
      continue;
    }
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    DELIMITER_COMMAND.lastIndex = i;
    if (mysqlLexis && start < 0 && DELIMITER_COMMAND.test(text)) {
      const eol = text.indexOf('\n', i);
      const lineEnd = eol < 0 ? text.length : eol;
      const [word] = text.slice(DELIMITER_COMMAND.lastIndex, lineEnd).trim().split(/\s+/);
      if (!word) return { problem: { line: lineAt(i), message: 'DELIMITER needs the new delimiter on the same line' } };
      delimiter = word;
      i = lineEnd;
      while (opaque[k] && opaque[k]!.start < i) k++;
      continue;
    }
    if (depth === 0 && text.startsWith(delimiter, i)) {
      end(i);
      i += delimiter.length;
      continue;
    }
    if (!mysqlLexis && c === '(') depth++;
    if (!mysqlLexis && c === ')' && depth > 0) depth--;
    if (start < 0) start = i;
    i++;
  }
  end(text.length);
  if (statements.length === 0) return { problem: { line: 1, message: 'has no SQL statement' } };
  return { statements };
}

/** Offset → 1-based line, for offsets asked in increasing order or not. */
function lineCounter(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}
