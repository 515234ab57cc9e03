/** How a variant's workers are driven (the scheduler's and the stress driver's options), and how a run is stopped. */
import type { Driven } from './result.js';

export interface RunOptions {
  /** A step still running after this long (not waiting on another worker's lock), or waiting while nothing else can move, is a hang. */
  stepTimeoutMs?: number;
  /** How often the monitor asks who waits (ms). */
  pollMs?: number;
  /** Ctrl-C: stop between polls, clean up, and reject with {@link RunAborted}. */
  signal?: AbortSignal;
  /** How many rows of each result to keep (100). */
  keepRows?: number;
  /**
   * Awaited before each step is sent, with the step and what the run recorded so far (`--pace`:
   * the CLI waits for Enter). The scheduler adds no timing of its own: it waits only for this.
   */
  beforeStep?: (next: NextStep, sofar: Driven) => Promise<void>;
}

/** The step about to be sent. */
export interface NextStep {
  readonly worker: string;
  readonly step: string;
  readonly sql: string;
}

export class RunAborted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'RunAborted';
  }
}
