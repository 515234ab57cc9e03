/** Which deadlock_timeout lockrepro gives a worker's statement, and when it leaves the value alone. */

/**
 * deadlock_timeout for worker sessions, in ms. PostgreSQL runs its deadlock check once per wait,
 * deadlock_timeout after that wait began, in the waiting backend; the backend whose check finds the
 * cycle is the victim (lab-notes). A cycle closes when its last member starts to wait, and at that
 * moment the others already wait: so the statement that closes it gets the shortest timeout and
 * its check, CLOSER after its own wait began, sees the whole cycle however late it arrived. The
 * scheduler sends a statement only while the other in-flight statements wait, so "k others
 * waiting when sent" ranks how late a statement joins: it gets CLOSER + (workers − 1 − k) ×
 * STAGGER. Earlier waiters' checks come at least STAGGER later than a closer's, or ran before the
 * cycle existed and found nothing. The victim is decided by order, not by a race, and a deadlock
 * costs CLOSER, not the server's 1 s. STAGGER is large because under CPU starvation both the
 * scheduler and the backends' timers run late: with 500 ms, 1 of 60 loaded runs (load average 22
 * on 2 cores) still let the first waiter's check win (npm run bench:load). For up to three workers
 * the longest value stays below the step timeout, so a cycle closed by a statement that waited
 * before (granted one lock, then waiting for another) is still found by the database rather than
 * cancelled as a hang.
 */
export const DEADLOCK_TIMEOUT_CLOSER_MS = 10;
export const DEADLOCK_TIMEOUT_STAGGER_MS = 2000;

/**
 * Whether a statement may set deadlock_timeout: SET [SESSION | LOCAL], RESET, set_config(), RESET
 * ALL. Read from the text (SHOW only reads it); a match inside a comment or a string only means
 * that lockrepro stops managing the value a statement early.
 */
export function setsDeadlockTimeout(sql: string): boolean {
  return /\b(?:set|reset)\s+(?:session\s+|local\s+)?deadlock_timeout\b|\bset_config\s*\(\s*'deadlock_timeout'|\breset\s+all\b/i.test(sql);
}

/** For a statement sent while `othersWaiting` of the session's `sessions − 1` fellow workers wait. */
export function deadlockTimeoutFor(sessions: number, othersWaiting: number): number {
  return DEADLOCK_TIMEOUT_CLOSER_MS + Math.max(0, sessions - 1 - othersWaiting) * DEADLOCK_TIMEOUT_STAGGER_MS;
}
