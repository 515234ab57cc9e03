/**
 * The names a statement asks GET_LOCK() for, read from its text, so that the holder of a user-lock
 * wait can be asked with IS_USED_LOCK(name).
 */

/**
 * The lock names of the GET_LOCK(...) calls in a statement, where the first argument is a string
 * literal or a `?` placeholder (resolved from `params` by position). Other expressions are skipped
 * (their holder is then unknown, never guessed).
 */
export function getLockNames(sql: string, params: readonly unknown[]): string[] {
  const names: string[] = [];
  let placeholder = 0;
  let i = 0;
  const n = sql.length;
  const readQuoted = (q: string): { value: string; end: number } => {
    let j = i + 1;
    let value = '';
    while (j < n) {
      const c = sql[j]!;
      if (c === '\\' && q !== '`') {
        value += sql[j + 1] ?? '';
        j += 2;
        continue;
      }
      if (c === q) {
        if (sql[j + 1] === q) {
          value += q;
          j += 2;
          continue;
        }
        return { value, end: j + 1 };
      }
      value += c;
      j++;
    }
    return { value, end: n };
  };
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`') {
      i = readQuoted(c).end;
    } else if (c === '-' && sql[i + 1] === '-' && /\s/.test(sql[i + 2] ?? ' ')) {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '#') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '?') {
      placeholder++;
      i++;
    } else if (/[A-Za-z_]/.test(c) && !/[A-Za-z0-9_$]/.test(sql[i - 1] ?? ' ')) {
      const m = /^GET_LOCK\s*\(\s*/i.exec(sql.slice(i, i + 64));
      if (!m) {
        while (i < n && /[A-Za-z0-9_$]/.test(sql[i]!)) i++;
        continue;
      }
      i += m[0].length;
      const a = sql[i];
      if (a === "'" || a === '"') {
        const lit = readQuoted(a);
        if (/^\s*,/.test(sql.slice(lit.end))) names.push(lit.value);
        i = lit.end;
      } else if (a === '?') {
        const v = params[placeholder];
        if (typeof v === 'string' && /^\s*,/.test(sql.slice(i + 1))) names.push(v);
        placeholder++;
        i++;
      }
    } else {
      i++;
    }
  }
  return [...new Set(names)];
}
