// Issue #11 "which lock": every wait names its lock. Done when JSON `steps[].lock.table` is
// `account` for every wait in ab-ba-deadlock on PostgreSQL 15, MariaDB and the embedded server;
// and the key is the row the waiting step updates, the same every run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main.js';
import { redactUrl } from '../../src/util/redact.js';
import { GOLDEN_TARGETS } from '../helpers/golden.js';
import { gate, type Gate } from '../helpers/servers.js';

interface StepJson {
  worker: string;
  step: string;
  sql: string;
  blocked: boolean;
  lock?: { kind: string; table: string | null; detail: string } | null;
}

async function runJson(url: string | undefined, scenario: string): Promise<{ code: number; steps: StepJson[] }> {
  let stdout = '';
  const code = await main(['run', scenario, '--json', ...(url === undefined ? [] : ['--db', url])], {
    out: (t) => {
      stdout += t;
    },
    err: () => undefined,
    env: { ...process.env, LOCKREPRO_DB: '' },
    isTTY: false,
  });
  const report = JSON.parse(stdout) as { scenarios: { variants: { steps: StepJson[] }[] }[] };
  return { code, steps: report.scenarios.flatMap((s) => s.variants.flatMap((v) => v.steps)) };
}

const gates: Gate[] = [];
for (const t of GOLDEN_TARGETS) {
  gates.push(
    t.url === undefined ? { skip: false, require: () => undefined } : gate(`${t.label} at ${redactUrl(t.url)}`, await t.unreachable()),
  );
}

for (const [i, target] of GOLDEN_TARGETS.entries()) {
  const g = gates[i]!;
  describe(`the lock each wait is on, ${target.label}`, { skip: g.skip }, () => {
    test('ab-ba-deadlock: every wait is on a row of account, the one its step updates', async () => {
      g.require();
      const { code, steps } = await runJson(target.url, 'ab-ba-deadlock');
      assert.equal(code, 0);
      const waits = steps.filter((s) => s.blocked);
      // alice and bob in the bug, bob in the fix.
      assert.equal(waits.length, 3, JSON.stringify(waits));
      for (const s of waits) {
        assert.equal(s.lock?.table, 'account', `${s.worker}.${s.step}`);
        assert.equal(s.lock?.kind, 'row');
        assert.equal(s.lock?.detail, `id=${/WHERE id = (\d+)/.exec(s.sql)![1]}`, `${s.worker}.${s.step}: ${s.sql}`);
      }
      for (const s of steps.filter((x) => !x.blocked)) assert.equal('lock' in s, false, 'no lock for a step that did not wait');
    });
  });
}

const pg = GOLDEN_TARGETS.find((t) => t.name === 'postgres-15')!;
const pgGate = gates[GOLDEN_TARGETS.indexOf(pg)]!;
describe('other kinds of lock on PostgreSQL 15', { skip: pgGate.skip }, () => {
  test('LOCK TABLE waits name the table and the mode asked for', async () => {
    pgGate.require();
    const { steps } = await runJson(pg.url, 'table-lock-deadlock');
    const locks = steps.filter((s) => s.blocked).map((s) => s.lock);
    assert.ok(locks.length > 0);
    for (const l of locks)
      assert.deepEqual(l, { kind: 'table', table: /auth_user|user_profile/.exec(l!.table ?? '')?.[0], detail: 'ExclusiveLock' });
  });

  test('pg_advisory_xact_lock waits name the key', async () => {
    pgGate.require();
    const { steps } = await runJson(pg.url, 'bootstrap-lock-order');
    const advisory = steps.filter((s) => s.blocked && s.lock?.kind === 'advisory');
    assert.ok(advisory.length > 0, JSON.stringify(steps.filter((s) => s.blocked).map((s) => s.lock)));
    for (const s of advisory) assert.match(s.lock!.detail, /^key \d+$/);
  });
});
