/** How the embedded server's failures become the one line a user sees. */
import { getSystemErrorMap } from 'node:util';

/** Why the embedded server could not start, in one line. */
export class EmbeddedStartError extends Error {
  override name = 'EmbeddedStartError';
}

/**
 * A failed file operation as one line: what we were doing, in which folder, and the system's own
 * words for the errno (ENOSPC → "no space left on device"). Node's message would add the syscall
 * and a path deep inside the cache, which tell the user less than the folder does.
 */
export function fileProblem(doing: string, folder: string, e: unknown): EmbeddedStartError {
  if (e instanceof EmbeddedStartError) return e;
  const { errno, code, message } = e as NodeJS.ErrnoException;
  const known = typeof errno === 'number' ? getSystemErrorMap().get(errno) : undefined;
  const why = known ? `${known[1]} (${known[0]})` : (code ?? lastLine(message ?? String(e)));
  return new EmbeddedStartError(`${doing} ${folder}: ${why}`);
}

export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? text;
}
