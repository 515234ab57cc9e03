/** Exit codes: part of the stable contract (design.md). */
export const EXIT = {
  /** Every expectation met. */
  OK: 0,
  /** An expectation not met: a fix still shows the anomaly, or the bug did not reproduce. */
  NOT_MET: 1,
  /** Bad usage or an invalid scenario. */
  USAGE: 2,
  /** The database is unreachable or failed to start. */
  DATABASE: 3,
  /**
   * A bug in lockrepro: an error it has no name for. Added to the contract's codes (extend, never
   * break) so that a crash is never mistaken for "expectation not met" (1), bad usage (2) or an
   * unreachable database (3).
   */
  INTERNAL: 4,
  /** Interrupted (Ctrl-C, SIGTERM, or stdout closed early); scratch databases were dropped. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
