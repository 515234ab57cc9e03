/**
 * Database URLs as lockrepro reads them. WHATWG's URL parser refuses libpq's unix-socket form
 * `postgres://u@/db?host=/run/postgresql` (userinfo and no host), which node-postgres accepts:
 * such a URL is read with a stand-in host, and rewritten as text.
 */

/** `scheme://[userinfo@]` with no host, then an optional path, query and fragment. */
const HOSTLESS = /^([a-z][a-z0-9+.-]*:\/\/(?:[^/?#@]*@)?)(\/[^?#]*)?([?#].*)?$/i;

/** The URL parsed, or null when it is not one (a host-less URL is read with host `localhost`). */
export function parseDbUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    const m = HOSTLESS.exec(url);
    if (!m) return null;
    try {
      return new URL(`${m[1]}localhost${m[2] ?? ''}${m[3] ?? ''}`);
    } catch {
      return null;
    }
  }
}

/** The same URL naming another database (its path), in the user's own spelling where it cannot parse. */
export function withDatabase(url: string, database: string): string {
  try {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
  } catch {
    const m = HOSTLESS.exec(url);
    if (!m) throw new Error(`not a database URL: cannot name database ${database} in it`);
    return `${m[1]}/${database}${m[3] ?? ''}`;
  }
}
