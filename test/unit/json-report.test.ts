// The --json document as a pure function of a report (no database): the contract's shape, rows,
// deadlock reports, and a scenario whose own SQL failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runVariant } from '../../src/engine/run.js';
import { detect } from '../../src/detect/detect.js';
import { toJson } from '../../src/report/json.js';
import type { Report } from '../../src/report/model.js';
import { FakeDialect } from '../helpers/fake-dialect.js';
import { plansFrom } from '../helpers/scenario.js';

const ABBA = `name: abba
title: t
story: s
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: x, sql: LOCK x }
    - { name: y, sql: LOCK y }
    - { name: read, sql: SELECT 7 }
    - { name: commit, sql: COMMIT }
  b:
    - { name: begin, sql: BEGIN }
    - { name: y, sql: LOCK y }
    - { name: x, sql: LOCK x }
    - { name: commit, sql: COMMIT }
schedule: [a.begin, b.begin, a.x, b.y, a.y, b.x, a.read, a.commit, b.commit]
expect: deadlock
`;

type J = {
  lockrepro: number;
  ok: boolean;
  error?: unknown;
  scenarios: {
    name: string;
    error?: unknown;
    variants: {
      mode: string;
      runs: number;
      met: boolean;
      counts: Record<string, number>;
      steps: {
        worker: string;
        step: string;
        status: string;
        blocked: boolean;
        blockedBy: string[];
        lock?: { kind: string; table: string | null; detail: string } | null;
        rows: unknown;
        rowCount: number | null;
        truncated: boolean;
        error: { kind: string } | null;
      }[];
      deadlockReports: { victim: string; cycle: string[]; server: string | null }[];
    }[];
  }[];
};

async function report(): Promise<Report> {
  const dialect = new FakeDialect();
  const [plan] = plansFrom(ABBA);
  const run = await runVariant(dialect, plan!);
  return { database: dialect.info, scenarios: [{ scenario: plan!.scenario, variants: [{ mode: 'schedule', run, verdict: detect(run) }] }] };
}

test('the contract: format version, verdict, counts, steps with rows, the deadlock report', async () => {
  const j = toJson(await report()) as J;
  assert.equal(j.lockrepro, 1);
  assert.equal(j.ok, true);
  assert.equal(j.error, undefined);
  const v = j.scenarios[0]!.variants[0]!;
  assert.deepEqual([v.mode, v.runs, v.met, v.counts.deadlocks], ['schedule', 1, true, 1]);
  const step = (w: string, s: string) => v.steps.find((x) => x.worker === w && x.step === s)!;
  // A statement with no result set: rows null; one with rows: the rows and their count.
  assert.deepEqual([step('a', 'begin').rows, step('a', 'begin').rowCount], [null, null]);
  assert.deepEqual([step('a', 'read').rows, step('a', 'read').rowCount, step('a', 'read').truncated], [[{ v: 7 }], 1, false]);
  assert.deepEqual(
    [step('b', 'x').status, step('b', 'x').error?.kind, step('b', 'x').blocked, step('b', 'x').blockedBy],
    ['error', 'deadlock', true, ['a']],
  );
  // steps[].lock: what a step that waited waited on; absent for a step that did not wait.
  assert.deepEqual(step('b', 'x').lock, { kind: 'other', table: null, detail: 'x' });
  assert.equal('lock' in step('a', 'begin'), false);
  assert.deepEqual(v.deadlockReports, [{ victim: 'b', cycle: ['b', 'a'], server: 'b waits for x held by a\na waits for y held by b' }]);
  assert.equal(step('b', 'commit').status, 'not-run');
});

test("a scenario whose own SQL failed: ok false, the scenario's error, the top-level error object", async () => {
  const r = await report();
  r.scenarios[0]!.error = { kind: 'scenario-sql', file: 'abba.yaml', line: 7, code: '42601', message: 'a.x: 42601 syntax error' };
  const failure = {
    kind: 'invalid-scenario',
    message: 'the SQL of 1 scenario failed',
    problems: [{ file: 'abba.yaml', line: 7, message: 'a.x: 42601 syntax error' }],
  };
  const j = toJson(r, { error: failure }) as J;
  assert.equal(j.ok, false);
  assert.deepEqual(j.error, failure);
  assert.deepEqual(j.scenarios[0]!.error, {
    kind: 'scenario-sql',
    file: 'abba.yaml',
    line: 7,
    code: '42601',
    message: 'a.x: 42601 syntax error',
  });
  assert.equal(j.scenarios[0]!.variants.length, 1, 'what ran is still listed');
});
