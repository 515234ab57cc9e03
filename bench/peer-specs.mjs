// Specs for PostgreSQL's isolation tester made from lockrepro's own scenario files, so that both
// tools run the same sessions, steps, step order, setup and check, and a scenario that changes
// changes the peer's spec with it. Used by bench/peer.mjs.
//
// Spec syntax (src/test/isolation/README in postgres/postgres): setup blocks run before every
// permutation on a control connection; each session has an optional setup block and named steps;
// the teardown block runs after every permutation and its result set is printed; without
// permutation lines the tester runs every ordering of the sessions' steps.
import { ISOLATION_SQL } from '../dist/vocabulary.js';
import { planScenario } from '../dist/plan/plan.js';
import { loadTargets } from '../dist/scenario/load.js';

/**
 * The schema the peer's tables live in, inside its own database. Its connections put it first on
 * search_path (connection option), so the scenario's unqualified SQL runs there unchanged, and the
 * first setup block empties it: every permutation starts clean, as every lockrepro run does.
 */
export const PEER_SCHEMA = 'peer';

/**
 * Steps that save a value for a later step (`save:`) or use one (`:name`). lockrepro keeps saved
 * values in the client and sends them as parameters; the tester has no client-side variables, so
 * the spec keeps them in the session instead: a saving step is wrapped in set_config() and a use
 * becomes current_setting(), still one round trip per step. The setting is text, so each saved
 * name needs its SQL type here (per scenario); a saved name must also be its column's name.
 */
const SAVED_TYPES = {
  'transfer-lost-update': { balance: 'int' },
};

/**
 * The bug schedule's steps that wait for a lock, for the floor (bench/floor.cjs), which does not
 * watch the server as a scheduler does but is told: each such step is sent without waiting for
 * its answer, and its answer is awaited once the step named here has been sent (null: the step
 * ends by itself, the deadlock detector failing it). The tester's output checks this every run
 * (readPeerOutput in bench/peer.mjs): a step it shows waiting must be here, and a step here that
 * another step ends must be shown waiting, so a scenario that changes fails the bench instead of
 * leaving the floor awaiting a step that cannot finish.
 */
const WAITS = {
  // alice waits for bob's row; bob's UPDATE closes the cycle and, with the shorter
  // deadlock_timeout, is the victim 10 ms later, which ends alice's wait.
  'ab-ba-deadlock': { 'alice.second': 'bob.second', 'bob.second': null },
  // bob's UPDATE waits for alice's row lock until she commits.
  'transfer-lost-update': { 'bob.write': 'alice.commit' },
};

/**
 * The bug variant of a built-in scenario as a spec.
 * @param {string} scenarioName built-in scenario name
 * @param {{ deadlockTimeoutsMs: number[], permutation: boolean }} opts deadlock_timeout per
 *   session in worker order (the last value repeats); permutation false leaves out the
 *   permutation line, so the tester runs every ordering
 * @returns {{ text: string, file: string, sessions: string[], steps: number,
 *   expected: string[], check: { name: string, sql: string, expect: string, anomaly: string | null } | null,
 *   floor: Floor | null }} floor: the same spec as data for bench/floor.cjs (with a permutation only)
 */
export function peerSpec(scenarioName, { deadlockTimeoutsMs, permutation }) {
  const { scenarios, problems, missing } = loadTargets([scenarioName]);
  if (missing.length > 0 || problems.length > 0 || scenarios.length !== 1) {
    throw new Error(`scenario ${scenarioName}: ${[...missing, ...problems.map((p) => p.message)].join('; ') || 'not found'}`);
  }
  const planned = planScenario(scenarios[0], { engine: 'postgres', placeholder: (n) => `$${n}`, variants: ['bug'] });
  if (planned.problems.length > 0) throw new Error(planned.problems.map((p) => p.message).join('\n'));
  const plan = planned.plans[0];
  const types = SAVED_TYPES[scenarioName] ?? {};

  if (plan.checks.length > 1) throw new Error(`${scenarioName}: the teardown block prints one result; this bench supports one check`);
  const check = plan.checks[0] ?? null;
  if (check && typeof check.expect === 'object' && check.expect !== null) {
    throw new Error(`${scenarioName}: check ${check.name} expects rows; this bench compares one value`);
  }

  const name = (worker, step) => `${worker}.${step}`;
  // Every SQL text below goes both into the spec and, unchanged, into the floor's data.
  const setup = [`DROP SCHEMA IF EXISTS ${PEER_SCHEMA} CASCADE; CREATE SCHEMA ${PEER_SCHEMA}`, ...plan.setup.map((s) => s.sql)];
  const lines = [
    `# ${scenarioName}, variant bug, made by bench/peer-specs.mjs from ${plan.scenario.file}`,
    ...setup.map((sql) => block('setup', sql)),
  ];
  if (plan.teardown.length > 0)
    throw new Error(`${scenarioName}: scenario teardown is not supported by this bench (the schema is emptied instead)`);
  if (check) lines.push(block('teardown', check.sql));

  let steps = 0;
  const sessions = [];
  const stepSql = new Map(); // step key → [session index, SQL]
  for (const [i, w] of plan.workers.entries()) {
    const ms = deadlockTimeoutsMs[Math.min(i, deadlockTimeoutsMs.length - 1)];
    lines.push('', `session ${quote(w.name)}`);
    // lockrepro sets the isolation level when it opens a worker's session and deadlock_timeout
    // before the worker's statements; the tester's per-session setup runs before each permutation.
    const sessionSetup = `SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL ${ISOLATION_SQL[plan.isolation]}; SET deadlock_timeout = '${ms}ms'`;
    lines.push(block('setup', sessionSetup));
    sessions.push({ name: w.name, setup: sessionSetup });
    for (const s of w.steps) {
      const key = name(w.name, s.name);
      const sql = sessionVariables(s, key, types);
      lines.push(`step ${quote(key)} ${braces(sql)}`);
      stepSql.set(key, [i, sql]);
      steps++;
    }
  }
  const order = plan.schedule.map((r) => name(r.worker, r.step));
  if (permutation) lines.push('', `permutation ${order.map(quote).join(' ')}`);

  return {
    text: `${lines.join('\n')}\n`,
    file: plan.scenario.file,
    sessions: plan.workers.map((w) => w.name),
    steps,
    expected: [...plan.expected],
    check: check && { name: check.name, sql: check.sql, expect: String(check.expect), anomaly: check.anomaly ?? null },
    floor: permutation ? floorData(scenarioName, { setup, sessions, order, stepSql, check: check?.sql ?? null }) : null,
  };
}

/**
 * @typedef {{ setup: string[], sessions: { name: string, setup: string }[],
 *   steps: { key: string, session: number, sql: string, deferred: boolean, endsWaitOf: string[] }[],
 *   check: string | null, waits: Record<string, string | null> }} Floor
 * setup runs on the control connection, in order; each session's setup on its own connection;
 * steps in the permutation's order, a `deferred` step (one that waits until a later step) sent without awaiting it, and awaited
 * with the step whose `endsWaitOf` names it; check last, on the control connection. waits is
 * the scenario's WAITS, which bench/peer.mjs checks against the tester's output.
 */
function floorData(scenarioName, { setup, sessions, order, stepSql, check }) {
  const waits = WAITS[scenarioName];
  if (!waits) throw new Error(`${scenarioName}: say which of its steps wait in WAITS in bench/peer-specs.mjs`);
  for (const [key, by] of Object.entries(waits)) {
    if (!order.includes(key) || (by !== null && order.indexOf(by) <= order.indexOf(key)))
      throw new Error(
        `${scenarioName}: WAITS in bench/peer-specs.mjs names ${key} ended by ${by}, not steps in that order in the schedule`,
      );
  }
  const steps = order.map((key) => {
    const [session, sql] = stepSql.get(key);
    const endsWaitOf = Object.keys(waits).filter((k) => waits[k] === key);
    return { key, session, sql, deferred: waits[key] !== undefined && waits[key] !== null, endsWaitOf };
  });
  return { setup, sessions, steps, check, waits };
}

/** A step's SQL with its saved values kept in the session (see SAVED_TYPES). */
function sessionVariables(step, key, types) {
  const known = (n) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(n) || !types[n])
      throw new Error(`step ${key} saves or uses ${n}: give its SQL type in SAVED_TYPES in bench/peer-specs.mjs`);
    return n;
  };
  // The planner turned each `:name` into $n, with params[n - 1] its name.
  let sql = step.sql.text.replace(/\$(\d+)/g, (_, n) => {
    const param = known(step.sql.params[Number(n) - 1]);
    return `current_setting('bench.${param}')::${types[param]}`;
  });
  if (step.save !== null) {
    const names = (typeof step.save === 'string' ? [step.save] : step.save).map(known);
    const sets = names.map((n) => `set_config('bench.${n}', saved.${n}::text, false) AS ${n}`);
    sql = `SELECT ${sets.join(', ')} FROM (${sql}) AS saved`;
  }
  return sql;
}

function block(kind, sql) {
  return `${kind} ${braces(sql)}`;
}

function braces(sql) {
  // The tester's scanner ends a SQL block at the first closing brace.
  if (sql.includes('}')) throw new Error(`a spec SQL block cannot contain "}": ${sql}`);
  return `{ ${sql}; }`;
}

function quote(name) {
  if (name.includes('"')) throw new Error(`a spec name cannot contain a double quote: ${name}`);
  return `"${name}"`;
}
