/**
 * The names a statement asks GET_LOCK() for, read from its text, so that the holder of a user-lock
 * wait can be asked with IS_USED_LOCK(name).
 */
import { sqlTokens } from '../../scenario/sql-lexer.js';

/**
 * The lock names of the GET_LOCK(...) calls in a statement, where the first argument is a string
 * literal or a `?` placeholder (resolved from `params` by position). Other expressions are skipped
 * (their holder is then unknown, never guessed).
 */
export function getLockNames(sql: string, params: readonly unknown[]): string[] {
  const tokens = sqlTokens(sql, 'mysql').filter((t) => t.kind !== 'comment');
  const names: string[] = [];
  let placeholder = 0;
  for (const [i, t] of tokens.entries()) {
    if (t.kind === 'placeholder') placeholder++;
    if (t.kind !== 'word' || t.text.toUpperCase() !== 'GET_LOCK') continue;
    const [open, arg, comma] = [tokens[i + 1], tokens[i + 2], tokens[i + 3]];
    if (open?.kind !== 'symbol' || open.text !== '(' || comma?.kind !== 'symbol' || comma.text !== ',') continue;
    if (arg?.kind === 'string') names.push(arg.value);
    // The placeholder is counted when the loop reaches it; this one is the next.
    if (arg?.kind === 'placeholder' && typeof params[placeholder] === 'string') names.push(params[placeholder] as string);
  }
  return [...new Set(names)];
}
