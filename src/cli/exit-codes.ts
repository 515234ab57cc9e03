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
  /** Interrupted (Ctrl-C); scratch databases were dropped. */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
