/**
 * Passwords never appear in any output. Every URL shown to a user goes through {@link redactUrl},
 * and every message that came from a driver goes through {@link scrub} with the secrets known.
 */

/** The URL with its password replaced by `***` (and left unparsed text returned as-is but scrubbed). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Not a URL we can parse: hide anything between "//user:" and "@".
    return url.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@');
  }
}

const secrets = new Set<string>();

/** Remember a secret (a password from a URL) so {@link scrub} removes it from any later text. */
export function registerSecret(secret: string | undefined | null): void {
  if (secret && secret.length > 0) secrets.add(secret);
}

/** Remove every registered secret (raw and URL-encoded) from a piece of text. */
export function scrub(text: string): string {
  let out = text;
  for (const s of secrets) {
    for (const form of new Set([s, encodeURIComponent(s)])) {
      out = out.split(form).join('***');
    }
  }
  return out;
}
