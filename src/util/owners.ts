/**
 * Ownership of files and folders by name (the embedded server's cache entries, SQLite's scratch
 * folders), which is how concurrent runs share them without a lock file: an entry named `<prefix>-<pid>-<start>-<hex>` belongs to the process with that pid and
 * start time (clock ticks since boot, so a reused pid does not look alive), and renaming an entry
 * is atomic, so of several runs that try to take one, exactly one succeeds.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

const HAS_PROC = existsSync('/proc/self/stat');

/** This process as an owner: pid plus start time (Linux) or `x` where there is no /proc. */
const SELF = `${process.pid}-${startTime(process.pid) ?? 'x'}`;
const OWNED = /^(.+)-(\d+)-(\d+|x)-[0-9a-f]+$/;

/** A fresh name for an entry this process owns. */
export function ownedName(prefix: string): string {
  return `${prefix}-${SELF}-${randomBytes(3).toString('hex')}`;
}

/** The prefix of an entry whose owner has died, or null (not an owned name, or its owner lives). */
export function abandoned(name: string): string | null {
  const m = OWNED.exec(name);
  if (!m || (alive(Number(m[2])) && (m[3] === 'x' || startTime(Number(m[2])) === m[3]))) return null;
  return m[1]!;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // Some containers' init never reaps orphans, and a zombie still answers kill(pid, 0).
  return !HAS_PROC || startTime(pid) !== null;
}

/** Whether we can tell which directory a process works in (/proc/<pid>/cwd). */
export const CAN_SEE_CWD = HAS_PROC;

/** Field 22 of /proc/<pid>/stat, or null if the process is gone or a zombie (no /proc: null). */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3, the state
    return fields[0] === 'Z' ? null : (fields[19] ?? null);
  } catch {
    return null;
  }
}
