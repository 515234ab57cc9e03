/**
 * One naming rule for scratch databases on every engine: recognisably lockrepro's, legal unquoted
 * everywhere (only [a-z0-9_]), within the shortest limit (MySQL's 64 characters; PostgreSQL's 63
 * bytes), and unique per run.
 */
import { randomBytes } from 'node:crypto';

/**
 * `lockrepro_<label>_<8 hex>`, at most 59 characters. Eight hex digits mark a name whose run holds
 * a lock for its whole life (see {@link ownsLock}); names with six came from lockrepro before it
 * did, and a later run cannot tell whether theirs is alive, so it leaves them alone.
 */
export function scratchName(label: string): string {
  const clean = label
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // Ünïcode → Unicode
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '')
    .slice(0, 40)
    .replace(/_$/, '');
  const suffix = randomBytes(4).toString('hex');
  return clean ? `lockrepro_${clean}_${suffix}` : `lockrepro_${suffix}`;
}

/**
 * Every scratch database, as a LIKE pattern (bound as a parameter: `_` is a wildcard, hence the
 * escape).
 */
export const SCRATCH_LIKE = 'lockrepro\\_%';

/** Whether a database's name is a scratch database whose run holds a lock named after it. */
export function ownsLock(name: string): boolean {
  return /^lockrepro_(?:[a-z0-9_]*_)?[0-9a-f]{8}$/.test(name);
}

/**
 * The server-side statement limit for a worker's session, in ms: a statement of a run that died
 * (SIGKILL, lost network) must not go on for ever, and one of a live run must never be stopped by
 * it first. lockrepro cancels a step that runs (or waits with nothing else able to move) for one
 * step timeout; a parked step may wait while the others take their turns, so twice that, plus a
 * margin for a loaded machine.
 */
export function serverStatementLimitMs(stepTimeoutMs: number): number {
  return 2 * stepTimeoutMs + 5_000;
}
