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

/** Characters of a URL scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`). */
const SCHEME_CHAR = /[a-z0-9+.-]/i;
const LETTER = /[a-z]/i;
/**
 * Where a URL found in free text ends: whitespace, a quote, a backslash or `<>`. The stops keep a
 * match inside one JSON string or one quoted word, so masking never breaks the document around it.
 */
const URL_BODY = /[^\s"'`<>\\]*/y;

/**
 * `text` with every `scheme://…` in it replaced by `f(url)`. Found by looking for `://` and walking
 * out from it, never by a regular expression that starts at every letter: that one re-read a long
 * word once per position (a 100 kB word took 12 s; masking must take time linear in the text).
 * Each character is read a bounded number of times: the walk back stops at the previous `://`.
 */
function replaceUrls(text: string, f: (url: string) => string): string {
  const out: string[] = [];
  let copied = 0;
  let from = 0;
  for (let sep = text.indexOf('://', from); sep >= 0; sep = text.indexOf('://', from)) {
    let start = sep;
    while (start > from && SCHEME_CHAR.test(text[start - 1]!)) start--;
    while (start < sep && !LETTER.test(text[start]!)) start++;
    from = sep + 3;
    URL_BODY.lastIndex = from;
    const end = from + URL_BODY.exec(text)![0].length;
    if (start === sep || end === from) continue; // no scheme, or nothing after `://`
    out.push(text.slice(copied, start), f(text.slice(start, end)));
    copied = from = end;
  }
  out.push(text.slice(copied));
  return out.join('');
}

/** `text` with the password of every `scheme://…` URL in it hidden (see {@link redactUrl}). */
export function scrubUrls(text: string): string {
  return replaceUrls(text, redactUrl);
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

/**
 * A `password=` setting of a libpq-style connection string (`host=h password=s3cr3t`), its value
 * quoted or not. Anchored on the word, so it reads the text once.
 */
const KEY_VALUE_PASSWORD = /\b((?:ssl)?password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'",;&]+)/gi;

/**
 * Hide registered secrets (raw and URL-encoded) where a password can appear in a driver's message:
 * inside URLs and in `password=` settings. Not in the rest of the text: a password may be an
 * ordinary word, and with the password `account`, `relation "account" does not exist` must stay
 * readable.
 */
export function scrub(text: string): string {
  const forms = [...secrets].flatMap((s) => [s, encodeURIComponent(s)]);
  const hide = (url: string) => forms.reduce((u, form) => u.split(form).join('***'), redactUrl(url));
  return replaceUrls(text, hide).replace(KEY_VALUE_PASSWORD, '$1***');
}
