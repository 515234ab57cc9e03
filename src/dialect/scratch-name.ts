/**
 * One naming rule for scratch databases on every engine: recognisably lockrepro's, legal unquoted
 * everywhere (only [a-z0-9_]), within the shortest limit (MySQL's 64 characters; PostgreSQL's 63
 * bytes), and unique per run.
 */
import { randomBytes } from 'node:crypto';

/** `lockrepro_<label>_<6 hex>`, at most 57 characters. */
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
  const suffix = randomBytes(3).toString('hex');
  return clean ? `lockrepro_${clean}_${suffix}` : `lockrepro_${suffix}`;
}
