// --interleavings: "can these transactions deadlock?" answered over every interleaving.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lockrepro, scratchFolder } from '../helpers/cli.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const external = await pgGate();
const maria = await mysqlGate();
const file = scratchFolder();

// The schedule given runs alice to the end before bob starts: clean. Other interleavings deadlock.
const HIDDEN = `name: hidden-deadlock
title: t
story: s
setup:
  - CREATE TABLE acc (id int PRIMARY KEY, v int NOT NULL)
  - INSERT INTO acc VALUES (1, 0), (2, 0)
workers:
  alice:
    - { name: begin, sql: BEGIN }
    - { name: one, sql: UPDATE acc SET v = v + 1 WHERE id = 1 }
    - { name: two, sql: UPDATE acc SET v = v + 1 WHERE id = 2 }
    - { name: commit, sql: COMMIT }
  bob:
    - { name: begin, sql: BEGIN }
    - { name: two, sql: UPDATE acc SET v = v + 1 WHERE id = 2 }
    - { name: one, sql: UPDATE acc SET v = v + 1 WHERE id = 1 }
    - { name: commit, sql: COMMIT }
schedule: [alice.begin, alice.one, alice.two, alice.commit, bob.begin, bob.two, bob.one, bob.commit]
expect: clean
`;

for (const target of [
  { label: 'MariaDB (CI server)', url: MYSQL_URL, gate: maria, max: [] as string[] },
  { label: 'PostgreSQL 15 (CI server)', url: PG_URL, gate: external, max: ['--max-interleavings', '24'] },
]) {
  describe(`--interleavings on ${target.label}`, { skip: target.gate.skip }, () => {
    test('a deadlock the given schedule hides is found, with how often and which interleaving', () => {
      target.gate.require();
      const f = file('hidden.yaml', HIDDEN);
      const once = lockrepro(['run', f, '--db', target.url, '--json']);
      assert.equal(once.code, 0, once.stderr);
      assert.equal(JSON.parse(once.stdout).scenarios[0].variants[0].observed, 'clean');

      const r = lockrepro(['run', f, '--db', target.url, '--json', '--interleavings', ...target.max]);
      assert.equal(r.code, 1, 'the "clean" expectation is not met once every interleaving is tried');
      const [bug] = JSON.parse(r.stdout).scenarios[0].variants;
      assert.equal(bug.mode, 'interleavings');
      // BEGIN commutes with every step of the other worker: 50 of the 70 are equivalent to one of
      // the 20 that run (fewer than --max-interleavings 24, so all of them run).
      assert.equal(bug.runs, 20);
      assert.equal(bug.interleavings.total, 70);
      assert.deepEqual(bug.interleavings.skipped, { equivalent: 50, noReductionBecause: null });
      assert.ok(bug.interleavings.failing > 0 && bug.interleavings.failing < bug.runs, JSON.stringify(bug.interleavings));
      assert.equal(bug.interleavings.byAnomaly.deadlock, bug.interleavings.failing);
      assert.equal(bug.counts.deadlocks, bug.interleavings.failing);
      assert.equal(bug.observed, 'deadlock');
      // The run shown is a deadlocking one: its steps say so, and its schedule interleaves.
      assert.ok(bug.steps.some((s: { error: { kind: string } | null }) => s.error?.kind === 'deadlock'));
      assert.notDeepEqual(bug.interleavings.shown.schedule.slice(0, 4), ['alice.begin', 'alice.one', 'alice.two', 'alice.commit']);
      // The smallest one: alice takes row 1, bob all he can, alice closes the cycle.
      assert.equal(bug.interleavings.shown.switches, 2, JSON.stringify(bug.interleavings.shown));
    });

    test('the ordered fix of ab-ba-deadlock holds in every interleaving', () => {
      target.gate.require();
      const r = lockrepro(['run', 'ab-ba-deadlock', '--db', target.url, '--json', '--interleavings', ...target.max]);
      assert.equal(r.code, 0, r.stderr);
      const [bug, fix] = JSON.parse(r.stdout).scenarios[0].variants;
      assert.ok(bug.interleavings.failing > 0);
      assert.equal(fix.interleavings.failing, 0);
      assert.equal(fix.counts.deadlocks, 0);
    });
  });
}
