/**
 * `--pace`: in a terminal, Enter runs the next step and q quits, for showing a run to a room. The
 * engine only awaits a "before step" callback; the keys, the prompt and printing the steps as they
 * happen are here. Quitting aborts the run as Ctrl-C does: scratch database dropped, exit 130.
 */
import type { Io } from './io.js';

/** The abort reason when q (or Ctrl-C, which raw mode turns into a key) ends a paced run. */
export const PACE_QUIT = 'quit (q)';

const QUIT_KEYS = new Set(['q', 'Q', '\u0003', '\u0004']);
const NEXT_KEYS = new Set(['\r', '\n', ' ']);

/** Why --pace cannot be used with these flags and this terminal, or null. */
export function paceProblem(flags: { json?: boolean; stress?: number; interleavings?: boolean }, io: Io): string | null {
  if (flags.json) return '--pace shows a run step by step in a terminal: not with --json';
  if (flags.stress !== undefined || flags.interleavings)
    return '--pace goes with one run on the schedule: not with --stress or --interleavings';
  if (!io.inIsTTY || !io.keys) return '--pace waits for Enter on a terminal, and stdin is not one';
  return null;
}

export class Pacer {
  private readonly ctl = new AbortController();
  private next: (() => void) | null = null;
  private readonly stop: () => void;

  constructor(private readonly io: Io) {
    this.stop = io.keys!((key) => this.key(key));
  }

  /** Aborted when the user quits. */
  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** Show the prompt (on stderr) and wait for Enter; q aborts {@link signal} instead. */
  wait(prompt: string): Promise<void> {
    this.io.err(prompt);
    return new Promise((resolve) => {
      this.next = () => {
        this.io.err('\r\x1b[2K');
        resolve();
      };
    });
  }

  close(): void {
    this.stop();
  }

  private key(key: string): void {
    if (QUIT_KEYS.has(key)) {
      this.io.err('\r\x1b[2K');
      this.ctl.abort(PACE_QUIT);
    } else if (NEXT_KEYS.has(key)) {
      const go = this.next;
      this.next = null;
      go?.();
    }
  }
}
