// What the trust issue found, pinned: values as the database's text in any time zone, checks that
// name exactly the columns they get, a scenario's own deadlock_timeout kept, and JSON rows with
// their count. Through the built binary, against real servers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lockrepro, scratchFolder } from '../helpers/cli.js';
import { PG_URL, pgGate, sqliteGate } from '../helpers/servers.js';

const external = await pgGate();
const file = scratchFolder();

const head = (name: string) => `name: ${name}\ntitle: t\nstory: s\n`;

/** Every type whose text a driver would otherwise turn into something else. */
const VALUES = `${head('values')}setup:
  - CREATE TABLE v (d date, ts timestamp, tstz timestamptz, t time, iv interval, j jsonb, a int[], b bytea, ok boolean, n numeric(5,2), big bigint, f float8)
  - "INSERT INTO v VALUES ('2008-12-22', '2008-12-22 10:11:12', '2008-12-22 10:11:12+09', '10:11:12', '1 day 02:00:00', '{\\"a\\": 1}', '{1,2,3}', '\\\\x0102', true, 1.50, 9007199254740993, 0.5)"
workers:
  a:
    - { name: read, sql: SELECT * FROM v }
schedule: [a.read]
checks:
  - { name: the date, sql: SELECT d FROM v, expect: "2008-12-22", anomaly: invariant }
expect: clean
`;

type Json = {
  ok: boolean;
  scenarios: {
    variants: {
      steps: { step: string; worker: string; rows: unknown; rowCount: number | null; truncated: boolean }[];
      checks: { passed: boolean; error?: string }[];
    }[];
  }[];
};
const json = (stdout: string) => JSON.parse(stdout) as Json;

/** Steps `many` (150 rows of n), `empty` (none) and `none` (no result set), as JSON gives them. */
function assertRows(stdout: string): void {
  const [many, empty, none] = json(stdout).scenarios[0]!.variants[0]!.steps;
  assert.equal((many!.rows as unknown[]).length, 100);
  assert.deepEqual((many!.rows as unknown[])[99], { n: 100 });
  assert.equal(many!.rowCount, 150);
  assert.equal(many!.truncated, true);
  assert.deepEqual(empty!.rows, []);
  assert.equal(empty!.truncated, false);
  assert.equal(none!.rows, null);
}

for (const target of [
  { label: 'PostgreSQL 15', db: ['--db', PG_URL], gate: external },
  { label: 'embedded PostgreSQL', db: [], gate: { skip: false as const, require: () => undefined } },
]) {
  describe(`values on ${target.label}`, { skip: target.gate.skip }, () => {
    for (const tz of ['Asia/Tokyo', 'America/Los_Angeles']) {
      test(`are the database's own text under TZ=${tz}`, () => {
        target.gate.require();
        const r = lockrepro(['run', file('values.yaml', VALUES), ...target.db, '--json'], { TZ: tz });
        assert.equal(r.code, 0, r.stderr);
        const v = json(r.stdout).scenarios[0]!.variants[0]!;
        assert.deepEqual(v.steps[0]!.rows, [
          {
            d: '2008-12-22',
            ts: '2008-12-22 10:11:12',
            tstz: '2008-12-22 01:11:12+00',
            t: '10:11:12',
            iv: '1 day 02:00:00',
            j: '{"a": 1}',
            a: '{1,2,3}',
            b: '\\x0102',
            ok: true,
            n: '1.50',
            big: '9007199254740993',
            f: 0.5,
          },
        ]);
        assert.equal(v.checks[0]!.passed, true);
      });
    }
  });
}

describe('PostgreSQL 15: checks, settings and rows', { skip: external.skip }, () => {
  test('an expected row with a misspelt column fails the check and names the column', () => {
    external.require();
    const src = `${head('row-check')}setup:
  - CREATE TABLE account (id int PRIMARY KEY, balance int)
  - INSERT INTO account VALUES (1, 999), (2, 100)
workers:
  a:
    - { name: read, sql: SELECT 1 }
schedule: [a.read]
checks:
  - name: rows
    sql: SELECT id, balance FROM account ORDER BY id
    expect: [{ id: 1 }, { id: 2, balanse: null }]
    anomaly: invariant
expect: clean
`;
    const r = lockrepro(['run', file('row-check.yaml', src), '--db', PG_URL, '--json']);
    // The scenario is wrong, not the database: exit 2, with the check's line.
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /row-check\.yaml:13: check "rows": expected row 1 lacks "balance"/);
    const check = json(r.stdout).scenarios[0]!.variants[0]!.checks[0]!;
    assert.equal(check.passed, false);
    assert.equal(check.error, 'expected row 1 lacks "balance" (the query returns "id", "balance")');
    const text = lockrepro(['run', file('row-check.yaml', src), '--db', PG_URL]);
    assert.match(text.stdout, /✗ rows: cannot be checked: expected row 1 lacks "balance"/);
  });

  test("a worker's own deadlock_timeout stands while another worker waits", () => {
    external.require();
    const src = `${head('own-timeout')}setup:
  - CREATE TABLE t (id int PRIMARY KEY, v int)
  - INSERT INTO t VALUES (1, 0)
workers:
  alice:
    - { name: begin, sql: BEGIN }
    - { name: write, sql: UPDATE t SET v = 1 WHERE id = 1 }
    - { name: commit, sql: COMMIT }
  carol:
    - { name: write, sql: UPDATE t SET v = 2 WHERE id = 1 }
  bob:
    - { name: mine, sql: "SET deadlock_timeout = '10s'" }
    - { name: show, sql: SHOW deadlock_timeout }
schedule: [bob.mine, alice.begin, alice.write, carol.write, bob.show, alice.commit]
expect: clean
`;
    const r = lockrepro(['run', file('own-timeout.yaml', src), '--db', PG_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const steps = json(r.stdout).scenarios[0]!.variants[0]!.steps;
    assert.deepEqual(steps.find((s) => s.step === 'show')!.rows, [{ deadlock_timeout: '10s' }]);
    assert.equal(steps.find((s) => s.worker === 'carol')!.rowCount, 1);
  });

  test('JSON rows: up to 100 with rowCount and truncated; [] for an empty result set, null for none', () => {
    external.require();
    const src = `${head('rows')}workers:
  a:
    - { name: many, sql: "SELECT g AS n FROM generate_series(1, 150) AS g" }
    - { name: empty, sql: "SELECT 1 AS n WHERE false" }
    - { name: none, sql: "CREATE TEMP TABLE x (n int)" }
schedule: [a.many, a.empty, a.none]
expect: clean
`;
    const r = lockrepro(['run', file('rows.yaml', src), '--db', PG_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assertRows(r.stdout);
  });
});

// SQLite needs no server: these run everywhere. SQLite keeps dates as the text it was given.
describe('SQLite: values, checks and rows', { skip: sqliteGate().skip }, () => {
  const VALUES_SQLITE = `${head('values-sqlite')}engines: [sqlite]
setup:
  - CREATE TABLE v (d date, ts timestamp, b blob, ok boolean, n numeric, big integer, f real, t text)
  - "INSERT INTO v VALUES ('2008-12-22', '2008-12-22 10:11:12+09:00', x'0102', true, 1.5, 9007199254740993, 0.5, 'x')"
workers:
  a:
    - { name: read, sql: SELECT * FROM v }
    - { name: big, sql: SELECT big FROM v, save: big }
    - { name: find, sql: "SELECT count(*) AS n FROM v WHERE big = :big" }
schedule: [a.read, a.big, a.find]
checks:
  - { name: the date, sql: SELECT d FROM v, expect: "2008-12-22", anomaly: invariant }
  - { name: the big one, sql: SELECT big FROM v, expect: 9007199254740993, anomaly: invariant }
expect: clean
`;
  test('are what SQLite holds, whatever the time zone; a big integer keeps every digit', () => {
    for (const tz of ['Asia/Tokyo', 'America/Los_Angeles']) {
      const r = lockrepro(['run', file('values-sqlite.yaml', VALUES_SQLITE), '--db', 'sqlite:', '--json'], { TZ: tz });
      assert.equal(r.code, 0, r.stderr);
      const v = json(r.stdout).scenarios[0]!.variants[0]!;
      assert.deepEqual(v.steps[0]!.rows, [
        { d: '2008-12-22', ts: '2008-12-22 10:11:12+09:00', b: '\\x0102', ok: 1, n: 1.5, big: '9007199254740993', f: 0.5, t: 'x' },
      ]);
      // Saved and bound again, it still finds its row.
      assert.deepEqual(v.steps[2]!.rows, [{ n: 1 }]);
      assert.deepEqual(
        v.checks.map((c) => c.passed),
        [true, true],
      );
    }
  });

  test('JSON rows: up to 100 with rowCount and truncated; [] for an empty result set, null for none', () => {
    const src = `${head('rows-sqlite')}engines: [sqlite]
workers:
  a:
    - { name: many, sql: "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 150) SELECT n FROM g" }
    - { name: empty, sql: "SELECT 1 AS n WHERE 0" }
    - { name: none, sql: "CREATE TEMP TABLE x (n int)" }
schedule: [a.many, a.empty, a.none]
expect: clean
`;
    const r = lockrepro(['run', file('rows-sqlite.yaml', src), '--db', 'sqlite:', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assertRows(r.stdout);
  });

  test('a scenario whose own SQL is wrong on SQLite exits 2 with its line, not as a race', () => {
    const src = `${head('typo-sqlite')}engines: [sqlite]
setup: [CREATE TABLE t (a int)]
workers:
  a:
    - { name: read, sql: SELEC a FROM t }
schedule: [a.read]
expect: clean
`;
    const r = lockrepro(['run', file('typo-sqlite.yaml', src), '--db', 'sqlite:']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /typo-sqlite\.yaml:8: a\.read: SQLITE_ERROR near "SELEC": syntax error/);
  });
});
