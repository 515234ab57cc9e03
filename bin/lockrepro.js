#!/usr/bin/env node
// Thin entry point: everything else lives in dist/cli/main.js (built from src/ by `npm run build`).
import { main, processIo } from '../dist/cli/main.js';

const controller = new AbortController();
let interrupted = 0;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // First signal: stop the run, drop scratch databases, stop the embedded server, exit 130.
    // A second one: leave at once.
    if (++interrupted > 1) process.exit(130);
    controller.abort();
  });
}

const code = await main(process.argv.slice(2), processIo(controller.signal));
// Exit once stdout is flushed: a pooled connection or timer left behind must not keep us alive.
process.stdout.write('', () => process.exit(controller.signal.aborted ? 130 : code));
