/** The embedded server's errors: each is one line a user can act on. */
/** Why the embedded server could not start, in one line. */
export class EmbeddedStartError extends Error {
  override name = 'EmbeddedStartError';
}

export function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? text;
}
