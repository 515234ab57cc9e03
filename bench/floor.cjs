// The floor of bench/peer.mjs: the least a Node.js program does to run one isolation-tester
// permutation with node-postgres, as a whole process. No lockrepro code: it is a lower bound for
// any Node.js tool doing that work, not a scheduler. It is told (bench/peer-specs.mjs, WAITS)
// which steps wait for a lock and which later step ends each wait, where a tool must find out by
// watching the server.
//
//   node bench/floor.cjs <postgres url> < floor.json
//
// floor.json is peerSpec(...).floor: setup SQL for the control connection, each session's setup
// SQL, the steps in the permutation's order, the check query. Prints one JSON line, the SQLSTATE
// of each step that failed and the check's value, for bench/peer.mjs to verify; exit 1 with one
// line on stderr when it could not run (a step that fails is a result, not a failure).
'use strict';

// node-postgres asks at load time whether it runs on Cloudflare Workers by making a fetch
// Response when there is no `navigator` (Node 20 has none; Node 21 and later do), which loads
// Node's whole fetch stack: ~12 ms of start-up that any tool can avoid (lockrepro's bundle
// does). A navigator that is not Cloudflare's gives pg its Node.js answer at once.
const hadNavigator = 'navigator' in globalThis;
if (!hadNavigator) globalThis.navigator = { userAgent: 'Node.js' };
const { Client } = require('pg');
if (!hadNavigator) delete globalThis.navigator;

const fs = require('node:fs');

async function main() {
  const url = process.argv[2];
  const floor = JSON.parse(fs.readFileSync(0, 'utf8'));
  const connect = async () => {
    const client = new Client({ connectionString: url });
    client.on('error', () => undefined); // a connection the server ends; the query that used it fails too
    await client.connect();
    return client;
  };
  // Every connection opened at once; the control connection sets up while the sessions connect
  // and run their own setup (SET only: it does not need the tables).
  const [control, ...sessions] = await Promise.all([
    connect().then(async (c) => {
      for (const sql of floor.setup) await c.query(sql);
      return c;
    }),
    ...floor.sessions.map((s) =>
      connect().then(async (c) => {
        await c.query(s.setup);
        return c;
      }),
    ),
  ]);

  const errors = [];
  // A step's answer; its error is recorded, as the tester prints it and goes on.
  const send = (step) =>
    sessions[step.session].query(step.sql).then(
      () => undefined,
      (e) => {
        if (!e.code) throw e; // not the server's answer to the statement: the run is broken
        errors.push({ step: step.key, code: e.code });
      },
    );
  const waiting = new Map(); // step key → its answer, for a step sent while it waits for a lock
  for (const step of floor.steps) {
    const answer = send(step);
    if (step.deferred) {
      answer.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      waiting.set(step.key, answer);
      continue;
    }
    // This step, and every wait that it ends, answered before the next step is sent.
    const ended = step.endsWaitOf.map((key) => waiting.get(key));
    for (const key of step.endsWaitOf) waiting.delete(key);
    await Promise.all([answer, ...ended]);
  }
  await Promise.all(waiting.values());

  let check = null;
  if (floor.check !== null) {
    const r = await control.query({ text: floor.check, rowMode: 'array' });
    if (r.rows.length !== 1) throw new Error(`the check gave ${r.rows.length} rows, not 1`);
    check = r.rows[0][0] === null ? null : String(r.rows[0][0]);
  }
  // Terminate sent on every connection, and out without waiting for the server to close them,
  // as libpq's PQfinish does for the tester: the work is done once the check has answered.
  for (const c of [control, ...sessions]) c.end();
  process.stdout.write(`${JSON.stringify({ errors, check })}\n`); // a pipe: written before exit
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`floor: ${e.message || e.code || e}\n`);
  process.exit(1);
});
