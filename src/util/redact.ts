/**
 * Passwords never appear in any output. Every URL shown to a user goes through {@link redactUrl},
 * every message that came from a driver goes through {@link scrub} with the secrets known (where
 * the dialect catches it), and everything the CLI writes goes through {@link scrubUrls}
 * (src/cli/main.ts wraps its output). Only driver messages are scrubbed by text: a password can be
 * an ordinary word ("postgres") that a report legitimately contains.
 */
import { BadDatabaseUrl } from '../errors.js';

/**
 * Query parameters that carry a password (libpq's `password` and `sslpassword`). A value already
 * hidden (`***`, maybe followed by the punctuation of the sentence around it) is left alone, so
 * hiding twice keeps `…?password=***: connect ECONNREFUSED` readable.
 */
const SECRET_PARAMS = /([?&;](?:ssl)?password=)(?!\*\*\*(?:[&#]|[:,.;)]*$))[^&#]*/gi;

/**
 * The URL with its password replaced by `***`, in the user's own spelling (not re-serialised).
 *
 * Done on the text, not with `new URL`: a password may hold `@`, `/`, `:` or `?` unencoded, and
 * then the URL parser either fails or reads part of the password as a port or a path. So the
 * password is taken to run from the first `:` after `//` to the LAST `@`, which hides at least
 * what the parser (or a driver) would take as the password, and sometimes more: with an `@` later
 * in the query (`?application_name=a@b`) the host is hidden too. Over-hiding is the safe side.
 * `password=` and `sslpassword=` query parameters are hidden as well.
 */
export function redactUrl(url: string): string {
  const out = url.replace(SECRET_PARAMS, '$1***');
  const start = out.indexOf('//');
  if (start < 0) return out;
  const at = out.lastIndexOf('@');
  const colon = out.indexOf(':', start + 2);
  if (at < 0 || colon < 0 || colon > at) return out;
  return `${out.slice(0, colon + 1)}***${out.slice(at)}`;
}

/**
 * Something that looks like `scheme://…`, up to whitespace, a quote, a backslash or `<>`. The
 * stops keep a match inside one JSON string or one quoted word, so masking never breaks the
 * document around it.
 */
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>\\]+/gi;

/** `text` with the password of every `scheme://…` URL in it hidden (see {@link redactUrl}). */
export function scrubUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (u) => redactUrl(u));
}

const secrets = new Set<string>();

/**
 * Remember a secret (a password from a URL) so {@link scrub} removes it from any later text.
 * With `urlEncoded`, `secret` is a password as written in a URL: both that spelling and the
 * decoded password are remembered, and a `%` escape that does not decode is a
 * {@link BadDatabaseUrl} (bad usage, exit 2), never a stray URIError.
 */
export function registerSecret(secret: string | undefined | null, opts: { urlEncoded?: boolean } = {}): void {
  if (!secret) return;
  secrets.add(secret);
  if (!opts.urlEncoded) return;
  let decoded: string;
  try {
    decoded = decodeURIComponent(secret);
  } catch {
    throw new BadDatabaseUrl('--db: the password in the URL has a bad %-escape (write a literal % as %25)');
  }
  if (decoded) secrets.add(decoded);
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
