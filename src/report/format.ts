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
