/** Small text helpers shared by the reports (text.ts, show.ts). */
import type { WaitLock } from '../engine/dialect.js';
import type { LockKind } from '../vocabulary.js';

/** How reports name an expectation or an outcome: `clean`, or the anomalies joined by ` + `. */
export function expectText(anomalies: readonly string[]): string {
  return anomalies.length === 0 ? 'clean' : anomalies.join(' + ');
}

/** SQL or prose on one line: every run of whitespace becomes one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * Word-wrap one paragraph to lines of at most `width` characters (a longer word stands alone),
 * the first line after `first`, the others after `rest`.
 */
export function wrap(text: string, width: number, first = '', rest = first): string[] {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/)) {
    if (!word) continue;
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line += (empty ? '' : ' ') + word;
    }
    empty = false;
  }
  lines.push(line);
  return lines;
}

/**
 * A lock in a few words, the same every run: `row account (id=2)`, `table user_profile
 * (ExclusiveLock)`, `key range account (gap before id=5)`, `advisory lock (key 42)`.
 */
export function lockText(lock: WaitLock): string {
  if (lock.kind === 'transaction') return `the end of a transaction${lock.table ? ` on ${lock.table}` : ''}`;
  const head = [LOCK_WORDS[lock.kind], lock.table].filter(Boolean).join(' ');
  return lock.detail ? `${head} (${lock.detail})` : head;
}

const LOCK_WORDS: Record<Exclude<LockKind, 'transaction'>, string> = {
  row: 'row',
  'key-range': 'key range',
  table: 'table',
  metadata: 'metadata lock',
  advisory: 'advisory lock',
  other: 'lock',
};

/** SGR colour codes, which take no room on the screen. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts every colour code.
const ANSI = /\x1b\[[0-9;]*m/g;
/** Characters a terminal draws two columns wide, of those reports print (⏳). */
const WIDE = /[\u23e9-\u23f3\u{1f300}-\u{1faff}]/u;

/** Columns a line takes on a terminal. */
export function visibleWidth(line: string): number {
  let w = 0;
  for (const ch of line.replace(ANSI, '')) w += WIDE.test(ch) ? 2 : 1;
  return w;
}

/**
 * Fit report text to a terminal `columns` wide: each longer line is broken between words, the
 * rest indented under its own text (after the last gap of two spaces in the line's first half,
 * e.g. under the SQL of a step line). Tables (box-drawing lines) are left whole: a broken table
 * is worse than a wide one. For a terminal only; a pipe gets lines as they are.
 */
export function fitWidth(text: string, columns: number): string {
  return text
    .split('\n')
    .map((l) => wrapLine(l, columns).join('\n'))
    .join('\n');
}

export function wrapLine(line: string, columns: number): string[] {
  if (columns < 20 || visibleWidth(line) <= columns) return [line];
  const plain = line.replace(ANSI, '');
  if (/^\s*[┌│├└]/.test(plain)) return [line];
  let indent = 2;
  for (const m of plain.matchAll(/ {2,}(?=\S)/g)) {
    const end = m.index + m[0].length;
    if (end <= columns / 2) indent = end;
  }
  const out: string[] = [];
  let cur = '';
  let width = 0;
  let hasWord = false;
  const tokens = line.split(/( +)/);
  for (let i = 0; i < tokens.length; i += 2) {
    const gap = i > 0 ? tokens[i - 1]! : '';
    const word = tokens[i]!;
    const w = visibleWidth(word);
    if (hasWord && w > 0 && width + gap.length + w > columns) {
      out.push(cur);
      cur = ' '.repeat(indent) + word;
      width = indent + w;
    } else {
      cur += gap + word;
      width += gap.length + w;
    }
    if (visibleWidth(word) > 0) hasWord = true;
  }
  out.push(cur);
  return out;
}
