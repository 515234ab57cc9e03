// Authoring on the real PostgreSQL 15 (issue #9): `waits:` checked like any expectation, a whole
// step as a fix's replacement, and a fix's own isolation level kept under --isolation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockrepro, noStack, scratchFolder } from '../helpers/cli.js';
import { PG_URL, pgGate } from '../helpers/servers.js';

const pgServer = await pgGate();
const write = scratchFolder();

const take = (who: string) => `
  ${who}:
    - { name: begin, sql: BEGIN }
    - { name: take, sql: SELECT id FROM job WHERE taken_by IS NULL ORDER BY id LIMIT 1 FOR UPDATE, save: id }
    - { name: mark, sql: "UPDATE job SET taken_by = '${who}' WHERE id = :id" }
    - { name: commit, sql: COMMIT }`;
const QUEUE = write(
  'queue.yaml',
  `name: queue
title: two workers take the next job
story: Each worker locks the first free job; the second waits for the first.
engines: [postgres]
setup:
  - CREATE TABLE job (id int PRIMARY KEY, taken_by text)
  - INSERT INTO job VALUES (1, NULL), (2, NULL)
workers:${take('alice')}${take('bob')}
schedule: [alice.begin, bob.begin, alice.take, bob.take, alice.mark, alice.commit, bob.mark, bob.commit]
expect: clean
fixes:
  skip-locked:
    replace:
      bob.take: { sql: SELECT id FROM job WHERE taken_by IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED, save: id, waits: false }
  claims-no-wait:
    replace:
      bob.take: { sql: SELECT id FROM job WHERE taken_by IS NULL ORDER BY id LIMIT 1 FOR UPDATE, save: id, waits: false }
`,
);

test('waits: false holds for SKIP LOCKED and fails, naming the step, for a FOR UPDATE that waits', { skip: pgServer.skip }, () => {
  pgServer.require();
  const text = lockrepro(['run', QUEUE, '--db', PG_URL]);
  assert.equal(text.code, 1, text.stdout + text.stderr);
  noStack(text.stderr);
  assert.match(text.stdout, /✓ bob\.take did not wait/);
  assert.match(text.stdout, /saw clean; expected clean {2}✗ bob\.take waited on a lock held by alice; it must not wait \(waits: false\)/);
  const json = JSON.parse(lockrepro(['run', QUEUE, '--db', PG_URL, '--json']).stdout);
  const variants = json.scenarios[0].variants.map((v: { name: string; met: boolean; waits?: unknown }) => [v.name, v.met, v.waits]);
  assert.deepEqual(variants, [
    ['bug', true, undefined],
    ['skip-locked', true, [{ step: 'bob.take', expected: false, waited: false, met: true }]],
    [
      'claims-no-wait',
      false,
      [
        {
          step: 'bob.take',
          expected: false,
          waited: true,
          met: false,
          message: 'bob.take waited on a lock held by alice; it must not wait (waits: false)',
        },
      ],
    ],
  ]);
});

test('serializable-retry keeps its own level under --isolation read-committed, says so, and passes', { skip: pgServer.skip }, () => {
  pgServer.require();
  const args = ['run', 'transfer-lost-update', '--variant', 'bug', 'serializable-retry', '--isolation', 'read-committed', '--db', PG_URL];
  const text = lockrepro(args);
  assert.equal(text.code, 0, text.stdout + text.stderr);
  assert.match(text.stdout, /── fix serializable-retry · serializable \(the fix's own level: --isolation does not apply\) · expect clean/);
  assert.match(text.stdout, /── bug · read committed · expect lost-update/);
  const json = JSON.parse(lockrepro([...args, '--json']).stdout);
  assert.deepEqual(
    json.scenarios[0].variants.map((v: { name: string; isolation: string; ownIsolationKept?: boolean; met: boolean }) => [
      v.name,
      v.isolation,
      v.ownIsolationKept ?? false,
      v.met,
    ]),
    [
      ['bug', 'read-committed', false, true],
      ['serializable-retry', 'serializable', true, true],
    ],
  );
});
