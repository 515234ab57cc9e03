/**
 * A unified diff of two texts (the `diff -u` layout), for the golden-transcript test and the load
 * bench: a failing comparison should show the lines that differ, not two 200-line strings.
 * Transcripts are a few hundred lines, so a plain longest-common-subsequence table is fast enough.
 */

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

/** Lines of `text`; a last line without its newline is marked, as `diff` does. */
function lines(text: string): string[] {
  if (text === '') return [];
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  else out[out.length - 1] += NO_NEWLINE;
  return out;
}

const NO_NEWLINE = '\u0000';

function editScript(a: readonly string[], b: readonly string[]): Op[] {
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) ops.push({ kind: ' ', line: a[i]!, a: i++, b: j++ });
    else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ kind: '-', line: a[i]!, a: i++, b: j });
    else ops.push({ kind: '+', line: b[j]!, a: i, b: j++ });
  }
  // Within a run of changes, show the removed lines before the added ones, as diff -u does.
  for (let s = 0; s < ops.length; ) {
    if (ops[s]!.kind === ' ') {
      s++;
      continue;
    }
    let e = s;
    while (e < ops.length && ops[e]!.kind !== ' ') e++;
    const run = ops.slice(s, e);
    ops.splice(s, e - s, ...run.filter((o) => o.kind === '-'), ...run.filter((o) => o.kind === '+'));
    s = e;
  }
  return ops;
}

/** A `--- / +++ / @@` diff from `expected` to `actual`, or '' when they are equal. */
export function unifiedDiff(expected: string, actual: string, labels: { expected: string; actual: string }, context = 3): string {
  if (expected === actual) return '';
  const a = lines(expected);
  const b = lines(actual);
  const ops = editScript(a, b);
  const changed = ops.flatMap((o, k) => (o.kind === ' ' ? [] : [k]));
  const out = [`--- ${labels.expected}`, `+++ ${labels.actual}`];
  for (let h = 0; h < changed.length; ) {
    // A hunk: changes closer than 2 × context lines apart share one.
    let last = h;
    while (last + 1 < changed.length && changed[last + 1]! - changed[last]! <= 2 * context) last++;
    const from = Math.max(0, changed[h]! - context);
    const to = Math.min(ops.length - 1, changed[last]! + context);
    const hunk = ops.slice(from, to + 1);
    const aLines = hunk.filter((o) => o.kind !== '+').length;
    const bLines = hunk.filter((o) => o.kind !== '-').length;
    const aStart = aLines === 0 ? hunk[0]!.a : hunk[0]!.a + 1;
    const bStart = bLines === 0 ? hunk[0]!.b : hunk[0]!.b + 1;
    const range = (start: number, n: number) => (n === 1 ? `${start}` : `${start},${n}`);
    out.push(`@@ -${range(aStart, aLines)} +${range(bStart, bLines)} @@`);
    for (const o of hunk) {
      const missing = o.line.endsWith(NO_NEWLINE);
      out.push(`${o.kind}${missing ? o.line.slice(0, -1) : o.line}`);
      if (missing) out.push('\\ No newline at end of file');
    }
    h = last + 1;
  }
  return `${out.join('\n')}\n`;
}
