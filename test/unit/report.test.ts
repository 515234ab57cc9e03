// Reports that are pure functions of a scenario or a run: `show` and JUnit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runVariant } from '../../src/engine/run.js';
import { detect } from '../../src/detect/detect.js';
import { toJUnit } from '../../src/report/junit.js';
import { showScenario } from '../../src/report/show.js';
import type { Report } from '../../src/report/model.js';
import { FakeDialect } from '../helpers/fake-dialect.js';
import { plansFrom, SIMPLE, scenarioFrom } from '../helpers/scenario.js';

test('JUnit for a run in which nothing ran: one failed testcase naming the skip reasons, like exit code 1', () => {
  const dialect = new FakeDialect();
  const one = scenarioFrom(SIMPLE.replace('name: simple', 'name: only-mysql\nengines: [mysql]'), 'one.yaml');
  const two = scenarioFrom(SIMPLE.replace('name: simple', 'name: no-sql').replace('sql: COMMIT', 'sql: { mysql: COMMIT }'), 'two.yaml');
  const report: Report = {
    database: dialect.info,
    scenarios: [],
    skipped: [
      { scenario: one, reason: 'only-mysql supports mysql, not postgres' },
      { scenario: two, reason: 'no-sql has no SQL for postgres (step a.commit, line 7)' },
    ],
  };
  const xml = toJUnit(report);
  assert.match(xml, /<testsuites name="lockrepro" tests="3" failures="1" errors="0" skipped="2">/);
  assert.match(xml, /<testsuite name="lockrepro" tests="1" failures="1" errors="0" time="0.000">/);
  const failure =
    /<testcase classname="lockrepro\.postgres" name="nothing ran" time="0\.000"><failure message="([^"]*)" type="nothing-ran">([^<]*)<\/failure><\/testcase>/.exec(
      xml,
    );
  assert.ok(failure, xml);
  assert.equal(
    failure[1],
    'nothing ran: only-mysql, no-sql skipped on postgres (only-mysql supports mysql, not postgres; no-sql has no SQL for postgres (step a.commit, line 7))',
  );
  assert.equal(
    failure[2],
    'one.yaml: skipped: only-mysql supports mysql, not postgres\ntwo.yaml: skipped: no-sql has no SQL for postgres (step a.commit, line 7)',
  );
  // The skipped scenarios are still listed as skipped testcases.
  assert.equal(xml.match(/<skipped message=/g)?.length, 2);
});

test('JUnit for a run in which something ran has no "nothing ran" failure, skipped scenarios or not', async () => {
  const dialect = new FakeDialect();
  const [plan] = plansFrom(SIMPLE);
  const run = await runVariant(dialect, plan!);
  const skipped = scenarioFrom(SIMPLE.replace('name: simple', 'name: only-mysql\nengines: [mysql]'));
  const xml = toJUnit({
    database: dialect.info,
    scenarios: [{ scenario: plan!.scenario, variants: [{ mode: 'schedule', run, verdict: detect(run) }] }],
    skipped: [{ scenario: skipped, reason: 'only-mysql supports mysql, not postgres' }],
  });
  assert.match(xml, /<testsuites name="lockrepro" tests="2" failures="0" errors="0" skipped="1">/);
  assert.doesNotMatch(xml, /nothing ran|<failure/);
  assert.match(xml, /<testcase classname="lockrepro\.postgres\.simple" name="bug \(read-committed\)"/);
});

test('show prints what the story depends on: catches, row checks, saves, notes, timeout, teardown, fix setup and notes', () => {
  const out = showScenario(
    scenarioFrom(`name: full
title: Everything a reader needs
story: The story.
timeout: 2000
setup: [CREATE TABLE t (id int PRIMARY KEY, v int)]
teardown: [DROP TABLE t]
workers:
  a:
    - { name: begin, sql: BEGIN }
    - name: insert
      sql: INSERT INTO t VALUES (1, 0)
      catch: { unique-violation: ROLLBACK TO SAVEPOINT s, deadlock: null }
      note: an IntegrityError is caught
    - { name: write, sql: UPDATE t SET v = 1 WHERE id = 1, expectRows: 1, catch: [lock-timeout] }
    - { name: commit, sql: COMMIT }
expect: clean
notes:
  postgres: Why PostgreSQL does this.
  mysql: Why MySQL does that.
fixes:
  f:
    setup: [CREATE INDEX t_v ON t (v)]
    replace: { a.write: UPDATE t SET v = 2 WHERE id = 1 }
    insert:
      - after: a.begin
        step: { name: read, sql: SELECT v FROM t, save: [v], expectRows: 0, note: read first, catch: [serialization] }
    notes: { mariadb: Why MariaDB differs. }
`),
  );
  const lines = out.split('\n');
  const has = (line: string) => assert.ok(lines.includes(line), `${JSON.stringify(line)} in:\n${out}`);
  assert.match(lines[2]!, / · step timeout: 2000 ms$/);
  has('    insert       INSERT INTO t VALUES (1, 0)');
  has('                 # an IntegrityError is caught');
  has('                 catches unique-violation, runs ROLLBACK TO SAVEPOINT s, and goes on');
  has('                 catches deadlock, and goes on');
  has('                 catches lock-timeout, and goes on');
  has('                 expects 1 row changed; any other count is a conflict (serialization)');
  has('teardown:');
  has('  DROP TABLE t');
  has('  on postgres: Why PostgreSQL does this.');
  has('  on mysql: Why MySQL does that.');
  has('  + setup: CREATE INDEX t_v ON t (v)');
  // The replaced step keeps its catch and row check (not its note).
  const replaced = lines.indexOf('  replace a.write: UPDATE t SET v = 2 WHERE id = 1');
  assert.deepEqual(lines.slice(replaced + 1, replaced + 3), [
    '    catches lock-timeout, and goes on',
    '    expects 1 row changed; any other count is a conflict (serialization)',
  ]);
  const inserted = lines.indexOf('  insert after a.begin: read: SELECT v FROM t   → saves v');
  assert.ok(inserted > 0, out);
  assert.deepEqual(lines.slice(inserted + 1, inserted + 4), [
    '    # read first',
    '    catches serialization, and goes on',
    '    expects 0 rows changed; any other count is a conflict (serialization)',
  ]);
  has('  on mariadb: Why MariaDB differs.');
});

test('show: per-engine SQL one line per engine, and the engines the SQL covers when none are declared', () => {
  const out = showScenario(
    scenarioFrom(`name: pg-only
title: t
story: s
workers:
  a:
    - { name: lock, sql: { postgres: LOCK TABLE t, mariadb: LOCK TABLES t WRITE } }
expect: clean
`),
  );
  assert.match(out, /^engines: postgres, mariadb · isolation: read-committed$/m);
  assert.match(out, /^ {4}lock {9}\[postgres\] LOCK TABLE t\n {17}\[mariadb\] {2}LOCK TABLES t WRITE$/m);
});
