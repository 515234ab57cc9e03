#!/usr/bin/env node
// Thin entry point: everything else lives in dist/bundle/main.cjs, src/ compiled (tsc) and bundled
// (esbuild) by `npm run build` into one CommonJS file, loaded with V8's code cache (load-bundle.js).
import { loadBundle } from './load-bundle.js';

const { EXIT, OUTPUT_CLOSED, internalErrorText, main, processIo, saveCodeCache } = loadBundle();

const controller = new AbortController();
let interrupted = 0;
let firstSignalAt = 0;
/** A repeat this soon after the first signal is the same Ctrl-C (sent to us and to our group). */
const SAME_SIGNAL_MS = 1000;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // First signal: stop the run, drop scratch databases, stop the embedded server, exit 130.
    // A second one, pressed on purpose later: leave at once, saying what may be left behind.
    const now = Date.now();
    if (interrupted > 0 && now - firstSignalAt < SAME_SIGNAL_MS) return;
    if (++interrupted > 1) {
      process.stderr.write(
        'lockrepro: interrupted again: leaving without cleaning up; scratch databases named lockrepro_* may be left on the server\n',
      );
      process.exit(EXIT.INTERRUPTED);
    }
    firstSignalAt = now;
    // Said at once: dropping scratch databases and stopping the embedded server take a moment.
    process.stderr.write('lockrepro: interrupted: cleaning up (Ctrl-C again to leave at once)\n');
    controller.abort();
  });
}

// The reader went away (`lockrepro run x | head -1`): writes fail with EPIPE, which without a
// listener is an uncaught exception with a stack trace. Stop the run as on Ctrl-C, so scratch
// databases are still dropped, and leave quietly with 130. Later writes fail the same way: ignored.
let outputClosed = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', () => {
    outputClosed = true;
    if (!controller.signal.aborted) controller.abort(OUTPUT_CLOSED);
  });
}

// main() turns its own errors into one line and exit 4; this catches what escapes it (an error
// thrown from a callback or an event with no listener): the same line, exit 4.
function crash(e) {
  try {
    process.stderr.write(`lockrepro: ${internalErrorText(e, process.env)}\n`);
  } finally {
    process.exit(EXIT.INTERNAL);
  }
}
process.on('uncaughtException', crash);
process.on('unhandledRejection', (e) => {
  // After Ctrl-C or a closed stdout the run ends connections on purpose, and a statement promise
  // nobody waits for any more may reject with "Connection terminated" while main() is still
  // dropping scratch databases. That is the abort working, not a crash: let main() finish.
  if (!controller.signal.aborted) return crash(e);
  if (process.env.LOCKREPRO_DEBUG) process.stderr.write(`lockrepro: (debug) ignored after abort: ${e?.stack ?? e}\n`);
});

const code = await main(process.argv.slice(2), processIo(controller.signal));
// After main(): the functions it compiled on the way are in the cache too. Only after a command
// that went through (0 or 1): the cache is written once, and one written after a usage error or
// an unreachable database would hold little of what the command compiles when it works.
if (code === EXIT.OK || code === EXIT.NOT_MET) saveCodeCache();
// Ctrl-C: 130, as ever. A closed stdout turns only a success into 130 (the output was cut short);
// a failure keeps its own code, and its line on stderr says why.
const cut = (err) => code === EXIT.OK && (err || outputClosed);
const exit = (err) => process.exit(interrupted > 0 || cut(err) ? EXIT.INTERRUPTED : code);
// Exit once stdout is flushed: a pooled connection or timer left behind must not keep us alive.
// A closed stdout never flushes; leave at once.
if (outputClosed) exit();
else process.stdout.write('', exit);
