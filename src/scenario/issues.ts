/**
 * zod issues → one-line problems (`path: message`) at the line of the value (or key) they are
 * about, preferring the specific branch of a union over "not allowed here".
 */
import type { z } from 'zod';
import type { ParsedFile, Path, Problem } from './parse.js';

export const MISSING = 'missing required key';

export type Issue = z.core.$ZodIssue;

export function issueProblems(parsed: ParsedFile, issue: Issue, prefix: Path): Problem[] {
  const path = [...prefix, ...(issue.path as (string | number)[])];
  const at = (p: Path, key = false): Problem => ({ file: parsed.file, line: parsed.lineOf(p, key), message: '' });
  const where = path.length > 0 ? `${pathText(path)}: ` : '';
  if (path.length > 0 && issue.code !== 'unrecognized_keys' && issue.code !== 'invalid_key' && valueAt(parsed.data, path) === undefined) {
    const parent = path.slice(0, -1);
    return [{ ...at(parent), message: `${pathText(parent) || 'the file'}: ${MISSING} "${String(path[path.length - 1])}"` }];
  }
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => ({
        ...at([...path, k], true),
        message: `${where}unknown key "${k}"`,
      }));
    case 'invalid_union': {
      // Prefer the branch that matched the value's type: its issues are the specific ones.
      const branches = issue.errors.filter((errs) => !errs.every((e) => e.code === 'invalid_type' && e.path.length === 0));
      if (branches.length === 1) return branches[0]!.flatMap((e) => issueProblems(parsed, e, path));
      const nested = branches.find((errs) => errs.some((e) => e.code === 'invalid_union' || e.code === 'invalid_value'));
      if (nested) return nested.flatMap((e) => issueProblems(parsed, e, path));
      const value = valueAt(parsed.data, path);
      return [{ ...at(path), message: `${where}${describeValue(value)} is not allowed here${expectedTypes(issue)}` }];
    }
    case 'invalid_value':
      return [
        {
          ...at(path),
          message: `${where}${describeValue(valueAt(parsed.data, path))} is not one of: ${issue.values.map(String).join(', ')}`,
        },
      ];
    case 'invalid_key':
      return [{ ...at(path, true), message: `${where}${issue.issues.map((i) => i.message).join('; ')}` }];
    case 'invalid_type':
      return [{ ...at(path), message: `${where}expected ${issue.expected}, found ${describeValue(valueAt(parsed.data, path))}` }];
    default:
      return [{ ...at(path), message: `${where}${issue.message}` }];
  }
}

function expectedTypes(issue: Extract<Issue, { code: 'invalid_union' }>): string {
  const types = new Set(
    issue.errors.flatMap((errs) => errs.filter((e) => e.code === 'invalid_type').map((e) => (e as { expected: string }).expected)),
  );
  return types.size > 0 ? ` (expected ${[...types].join(' or ')})` : '';
}

export function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function valueAt(data: unknown, path: Path): unknown {
  let v: unknown = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
