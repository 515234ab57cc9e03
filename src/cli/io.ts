/** Where the CLI writes, and the one JSON shape of a failure (the contract's error object). */

/**
 * The abort reason bin/lockrepro.js gives when stdout or stderr is closed under it (EPIPE, as in
 * `lockrepro run x | head -1`): the run stops as on Ctrl-C, but without a message.
 */
export const OUTPUT_CLOSED = 'output closed';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (colours on unless NO_COLOR). */
  isTTY: boolean;
  /** The terminal's width, when stdout is one: text reports are wrapped to it. */
  columns?: number;
  /** Whether stderr is a terminal (progress lines only there). */
  errIsTTY?: boolean;
  /** Ctrl-C / SIGTERM: aborts a run, which then cleans up and returns 130. */
  signal?: AbortSignal;
  /** Whether stdin is a terminal (`--pace` reads keys from it). */
  inIsTTY?: boolean;
  /** Read single key presses from the terminal until the returned function is called. */
  keys?: (onKey: (key: string) => void) => () => void;
}

export function processIo(signal?: AbortSignal): Io {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    isTTY: !!process.stdout.isTTY,
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    errIsTTY: !!process.stderr.isTTY,
    signal,
    inIsTTY: !!process.stdin.isTTY,
    keys: (onKey) => {
      // Raw mode: a key arrives when pressed, without waiting for a line (and Ctrl-C as \x03).
      const stdin = process.stdin;
      stdin.setRawMode(true);
      stdin.setEncoding('utf8');
      stdin.on('data', onKey);
      stdin.resume();
      return () => {
        stdin.off('data', onKey);
        stdin.setRawMode(false);
        stdin.pause();
      };
    },
  };
}

/** Kinds of `error.kind` (the contract's four, and `interrupted` for exit 130). */
export type FailureKind = 'usage' | 'invalid-scenario' | 'database' | 'internal' | 'interrupted';

/** `{ lockrepro: 1, ok: false, error: { kind, message, problems } }`: --json's answer when there is no report. */
export function jsonFailure(
  kind: string,
  message: string,
  problems: readonly { file: string; line: number; message: string }[] = [],
): unknown {
  return { lockrepro: 1, ok: false, error: { kind, message, problems } };
}
