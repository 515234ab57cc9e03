/**
 * How a check's expected value is compared with what its SQL returned. Drivers return numbers in
 * different shapes (PostgreSQL's bigint and numeric arrive as strings, MySQL's DECIMAL may too), so
 * a number and a numeric string with the same value are equal.
 */
import type { CheckValue } from '../scenario/model.js';
import type { CheckRun } from '../engine/result.js';

/** A check judged: passed or not, and what it got. */
export interface CheckOutcome {
  readonly name: string;
  readonly anomaly: CheckRun['anomaly'];
  readonly passed: boolean;
  readonly expected: unknown;
  readonly actual: unknown;
  /** The check could not be compared: its SQL failed, or an expected row names other columns. */
  readonly error: string | null;
}

export function judgeCheck(c: CheckRun): CheckOutcome {
  const base = { name: c.name, anomaly: c.anomaly, expected: c.expect };
  if (c.error) return { ...base, passed: false, actual: null, error: c.error };
  const { passed, actual, error } = compareCheck(c.expect, c.rows, c.columns);
  return { ...base, passed, actual, error: error ?? null };
}

/**
 * `error` is set when the expectation cannot be compared at all: an expected row that does not
 * name exactly the columns the query returns (a misspelt, missing or extra column would otherwise
 * pass or fail for the wrong reason).
 */
export function compareCheck(
  expect: CheckValue | readonly Record<string, CheckValue>[],
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
): { passed: boolean; actual: unknown; error?: string } {
  if (Array.isArray(expect)) {
    const wantRows = expect as readonly Record<string, CheckValue>[];
    const actual = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, normalise(v)])));
    for (const [i, want] of wantRows.entries()) {
      const wrong = columnMismatch(Object.keys(want), columns);
      if (wrong) return { passed: false, actual, error: `expected row ${i + 1} ${wrong}` };
    }
    const passed =
      actual.length === wantRows.length && wantRows.every((want, i) => Object.entries(want).every(([k, v]) => sameValue(v, actual[i]![k])));
    return { passed, actual };
  }
  const first = rows[0];
  const col = columns[0];
  const actual = first && col !== undefined ? first[col] : null;
  return { passed: sameValue(expect as CheckValue, actual), actual: normalise(actual) };
}

export function sameValue(want: CheckValue, got: unknown): boolean {
  if (want === null) return got === null || got === undefined;
  if (typeof want === 'number') {
    const n = typeof got === 'number' ? got : typeof got === 'string' && got.trim() !== '' ? Number(got) : NaN;
    return n === want;
  }
  if (typeof want === 'boolean') {
    // MySQL has no boolean type: TRUE is 1.
    return got === want || got === (want ? 1 : 0) || got === (want ? '1' : '0');
  }
  return String(got) === want;
}

/** Numeric strings from drivers shown as numbers, so reports read the same on every engine. */
export function normalise(v: unknown): unknown {
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) && String(Number(v)) === v) return Number(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  return v;
}

/** What is wrong with an expected row's column names, or null when they are exactly `columns`. */
function columnMismatch(names: readonly string[], columns: readonly string[]): string | null {
  const unknown = names.filter((n) => !columns.includes(n));
  const missing = columns.filter((c) => !names.includes(c));
  if (unknown.length === 0 && missing.length === 0) return null;
  const parts: string[] = [];
  if (unknown.length > 0) parts.push(`names ${quoted(unknown)}, which the query does not return`);
  if (missing.length > 0) parts.push(`lacks ${quoted(missing)}`);
  return `${parts.join(' and ')} (the query returns ${quoted(columns)})`;
}

function quoted(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}
