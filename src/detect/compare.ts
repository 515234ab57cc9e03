/**
 * How a check's expected value is compared with what its SQL returned. Drivers return numbers in
 * different shapes (PostgreSQL's bigint and numeric arrive as strings, MySQL's DECIMAL may too), so
 * a number and a numeric string with the same value are equal.
 */
import type { CheckValue } from '../scenario/model.js';

export function compareCheck(
  expect: CheckValue | readonly Record<string, CheckValue>[],
  rows: readonly Record<string, unknown>[],
  columns: readonly string[],
): { passed: boolean; actual: unknown } {
  if (Array.isArray(expect)) {
    const wantRows = expect as readonly Record<string, CheckValue>[];
    const actual = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, normalise(v)])));
    const passed =
      actual.length === wantRows.length &&
      wantRows.every((want, i) => Object.entries(want).every(([k, v]) => sameValue(v, actual[i]![k])));
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
