/** Small text helpers shared by the reports (text.ts, show.ts). */

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
