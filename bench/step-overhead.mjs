// Per-step cost of lockrepro's scheduler against a bare round trip of the same statement with
// node-postgres. The approach of bench/run.mjs's step overhead (one worker whose consecutive steps'
// start times give the time per step), here with an UPDATE inside one transaction on both sides,
// so that neither side pays a commit per statement. Used by bench/peer.mjs.
import pg from 'pg';
import { runVariant } from '../dist/engine/run.js';
import { planScenario } from '../dist/plan/plan.js';
import { checkScenario } from '../dist/scenario/check.js';
import { parseScenarioText } from '../dist/scenario/parse.js';

const UPDATE = 'UPDATE step_cost SET v = v + 1 WHERE id = 1';
const SETUP = ['CREATE TABLE step_cost (id int PRIMARY KEY, v int NOT NULL)', 'INSERT INTO step_cost VALUES (1, 0)'];

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function plan(dialect, steps) {
  const yaml = [
    'name: step-cost',
    'title: per-step cost',
    'story: one worker updating one row, step after step',
    'setup:',
    ...SETUP.map((s) => `  - ${s}`),
    'workers:',
    '  a:',
    '    - { name: begin, sql: BEGIN }',
    ...Array.from({ length: steps }, (_, i) => `    - { name: u${i}, sql: "${UPDATE}" }`),
    '    - { name: commit, sql: COMMIT }',
    'expect: clean',
  ].join('\n');
  const checked = checkScenario(parseScenarioText('step-cost.yaml', yaml));
  if (!checked.scenario) throw new Error(checked.problems.map((p) => p.message).join('\n'));
  const r = planScenario(checked.scenario, { engine: dialect.info.dialect, placeholder: (n) => dialect.placeholder(n) });
  if (r.problems.length > 0) throw new Error(r.problems.map((p) => p.message).join('\n'));
  return r.plans[0];
}

/** Median time per UPDATE step in lockrepro's scheduler (send, wait-or-finish, record), in ms. */
export async function lockreproStepMs(dialect, steps) {
  const run = await runVariant(dialect, plan(dialect, steps));
  const bad = run.steps.find((s) => s.status !== 'ok');
  if (bad) throw new Error(`step ${bad.step} did not run cleanly: ${bad.error?.message ?? bad.status}`);
  const starts = run.steps.map((s) => s.startedMs);
  const per = [];
  // From each UPDATE's start to the next step's start: the whole cost of that step.
  for (let i = 1; i <= steps; i++) per.push(starts[i + 1] - starts[i]);
  return median(per);
}

/**
 * Median round trip of the same UPDATE on a plain node-postgres client, in ms. `url` names a
 * database the caller owns; the table is created and dropped here.
 */
export async function bareUpdateMs(url, steps) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('DROP TABLE IF EXISTS step_cost');
    for (const s of SETUP) await client.query(s);
    await client.query('BEGIN');
    const per = [];
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      await client.query(UPDATE);
      per.push(performance.now() - t);
    }
    await client.query('COMMIT');
    await client.query('DROP TABLE step_cost');
    return median(per);
  } finally {
    await client.end();
  }
}
