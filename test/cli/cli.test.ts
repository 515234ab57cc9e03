// The built binary (bin/lockrepro.js → dist/), as a user runs it: exit codes, JSON, messages.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { BIN, lockrepro, noStack, scratchFolder } from '../helpers/cli.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const external = await pgGate();
const maria = await mysqlGate();
const file = scratchFolder();

describe('usage and invalid scenarios (exit 2)', () => {
  test('a YAML syntax error, an unknown key and a schedule naming a missing step: one file:line line each', () => {
    const syntax = file('syntax.yaml', 'name: x\ntitle: t\nstory: s\nworkers:\n  a: [ { name: b, sql: x }\n  c: 1\nexpect: clean\n');
    const unknown = file('unknown.yaml', 'name: y\ntitle: t\nstory: s\nworkers:\n  a:\n    - { name: b, sql: SELECT 1 }\nexpect: clean\ncolour: red\n');
    const sched = file('sched.yaml', 'name: z\ntitle: t\nstory: s\nworkers:\n  a:\n    - { name: b, sql: SELECT 1 }\nschedule: [a.b, a.nope]\nexpect: clean\n');
    for (const cmd of ['check', 'run']) {
      const r = lockrepro([cmd, syntax, unknown, sched]);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 3, r.stderr);
      assert.match(lines[0]!, /syntax\.yaml:\d+: YAML: /);
      assert.match(lines[1]!, /unknown\.yaml:8: unknown key "colour"/);
      assert.match(lines[2]!, /sched\.yaml:7: schedule names a\.nope, which is not a step of a/);
      noStack(r.stderr);
    }
  });

  test('unknown flag, bad isolation, unknown scenario and unsupported --db scheme are usage errors', () => {
    for (const args of [
      ['run', 'ab-ba-deadlock', '--frobnicate'],
      ['run', 'ab-ba-deadlock', '--isolation', 'chaos'],
      ['run', 'no-such-scenario'],
      ['run', 'ab-ba-deadlock', '--db', 'ftp://example/x'],
    ]) {
      const r = lockrepro(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      noStack(r.stderr);
    }
  });

  test('check and list succeed on the built-in library', () => {
    const c = lockrepro(['check', 'scenarios']);
    assert.equal(c.code, 0, c.stderr);
    const l = lockrepro(['list']);
    assert.equal(l.code, 0);
    assert.match(l.stdout, /^ab-ba-deadlock\s+Two transactions/m);
    assert.match(l.stdout, /^transfer-lost-update\s+/m);
  });
});

test('an unreachable database: one line naming it without the password, exit 3', () => {
  const r = lockrepro(['run', 'ab-ba-deadlock', '--db', 'postgres://app:s3cretpw@127.0.0.1:9/nowhere']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /cannot connect to postgres:\/\/app:\*\*\*@127\.0\.0\.1:9\/nowhere/);
  assert.doesNotMatch(r.stdout + r.stderr, /s3cretpw/);
});

describe('runs on PostgreSQL 15 (CI server)', { skip: external.skip }, () => {
  test('ab-ba-deadlock --json: the contract shape, a deadlock in the bug, none in the fix, exit 0', () => {
    external.require();
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', PG_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.lockrepro, 1);
    assert.equal(j.ok, true);
    assert.equal(j.database.dialect, 'postgres');
    assert.equal(j.database.embedded, false);
    const [bug, fix] = j.scenarios[0].variants;
    assert.equal(j.scenarios[0].file, 'scenarios/ab-ba-deadlock.yaml');
    assert.deepEqual(Object.keys(bug), ['name', 'fix', 'isolation', 'mode', 'runs', 'expected', 'observed', 'met', 'counts', 'note', 'steps', 'checks']);
    assert.equal(bug.counts.deadlocks, 1);
    assert.equal(fix.counts.deadlocks, 0);
    const victim = bug.steps.find((s: { error: unknown }) => s.error);
    assert.deepEqual(victim.error.kind, 'deadlock');
    assert.equal(victim.error.code, '40P01');
    assert.ok(bug.steps.some((s: { blocked: boolean; blockedBy: string[] }) => s.blocked && s.blockedBy.includes('alice')));
  });

  test('a scenario whose expectation is not met exits 1 (the bug showed an anomaly its scenario calls clean)', () => {
    external.require();
    const src = readFileSync('scenarios/ab-ba-deadlock.yaml', 'utf8').replace('\nexpect: deadlock\n', '\nexpect: clean\n').replace('name: ab-ba-deadlock', 'name: wrong-expectation');
    const r = lockrepro(['run', file('wrong.yaml', src), '--db', PG_URL]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /saw deadlock; expected clean {2}✗/);
  });

  test('Ctrl-C mid-run exits 130 and drops the scratch database', async () => {
    external.require();
    const stuck = file('stuck.yaml', `name: ctrl-c
title: t
story: s
timeout: 60000
workers:
  a:
    - { name: hold, sql: SELECT pg_advisory_lock(7) }
  b:
    - { name: wait, sql: SELECT pg_advisory_lock(7) }
expect: hang
`);
    const child = spawn(process.execPath, [BIN, 'run', stuck, '--db', PG_URL], { env: { ...process.env, NO_COLOR: '1' } });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    // Wait (bounded) until the worker is really blocked on the lock, then interrupt.
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    let scratch: string | undefined;
    const deadline = Date.now() + 30_000;
    while (!scratch && Date.now() < deadline) {
      const r = await c.query("SELECT datname FROM pg_stat_activity WHERE datname LIKE 'lockrepro\\_ctrl\\_c\\_%' AND wait_event_type = 'Lock'");
      scratch = r.rows[0]?.datname;
    }
    assert.ok(scratch, 'the run reached the blocked step');
    child.kill('SIGINT');
    assert.equal(await exit, 130);
    const left = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratch]);
    await c.end();
    assert.equal(left.rowCount, 0, 'scratch database dropped');
  });
});

describe('runs on embedded PostgreSQL (no --db)', () => {
  test('transfer-lost-update --json: ok, the bug loses an update, every fix is clean', () => {
    const r = lockrepro(['run', 'transfer-lost-update', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, true);
    assert.equal(j.database.embedded, true);
    const [bug, ...fixes] = j.scenarios[0].variants;
    assert.ok(bug.counts.lostUpdates >= 1);
    assert.deepEqual(bug.checks.map((c: { expected: number; actual: number }) => [c.expected, c.actual]), [[20, 50]]);
    assert.ok(fixes.length >= 2);
    for (const f of fixes) {
      assert.equal(f.observed, 'clean', f.name);
      assert.ok(f.checks.every((c: { passed: boolean }) => c.passed), f.name);
      // A fix that retries shows the errors it absorbed, one per retry; any other count is 0.
      const { retries, serializationFailures, deadlocks, ...rest } = f.counts;
      assert.equal(serializationFailures + deadlocks, retries, `${f.name}: ${JSON.stringify(f.counts)}`);
      assert.ok(Object.values(rest).every((n) => n === 0), `${f.name}: ${JSON.stringify(f.counts)}`);
    }
    for (const name of ['for-update', 'atomic-update']) {
      const f = fixes.find((x: { name: string }) => x.name === name);
      assert.ok(Object.values(f.counts).every((n) => n === 0), `${name}: ${JSON.stringify(f.counts)}`);
    }
  });

  test('ab-ba-deadlock text transcript: the wait, the victim, the summary; the same twice', () => {
    const a = lockrepro(['run', 'ab-ba-deadlock']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /⏳ alice waits for bob/);
    assert.match(a.stdout, /alice is the deadlock victim/);
    assert.match(a.stdout, /every expectation met/);
    const b = lockrepro(['run', 'ab-ba-deadlock']);
    assert.equal(b.stdout, a.stdout);
  });
});

describe('runs on MariaDB (CI server)', { skip: maria.skip }, () => {
  test('ab-ba-deadlock --json: errno 1213, the session closing the cycle is the victim, the fix is clean', () => {
    maria.require();
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', MYSQL_URL, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, true);
    assert.match(j.database.dialect, /^(mariadb|mysql)$/);
    const [bug, fix] = j.scenarios[0].variants;
    assert.equal(bug.counts.deadlocks, 1);
    const victim = bug.steps.find((s: { error: { kind: string } | null }) => s.error?.kind === 'deadlock');
    assert.equal(victim.error.code, '1213');
    assert.equal(`${victim.worker}.${victim.step}`, 'bob.second');
    assert.ok(bug.steps.some((s: { worker: string; blocked: boolean; blockedBy: string[] }) => s.worker === 'alice' && s.blocked && s.blockedBy.includes('bob')));
    assert.ok(Object.values(fix.counts).every((n) => n === 0));
  });

  test('transfer-lost-update: lost at MariaDB\'s default REPEATABLE READ, fixes clean, the report says how PostgreSQL differs', () => {
    maria.require();
    const r = lockrepro(['run', 'transfer-lost-update', '--db', MYSQL_URL]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /── bug · repeatable read · expect lost-update/);
    assert.match(r.stdout, /expected 20, got 50 → lost-update/);
    assert.match(r.stdout, /on mariadb: .*PostgreSQL/s);
    assert.match(r.stdout, /every expectation met/);
  });

  test('a wrong password: exit 3, one line, the password nowhere', () => {
    maria.require();
    const u = new URL(MYSQL_URL);
    u.password = 'Zq9-not-the-password';
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', u.toString()]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /Zq9-not-the-password/);
  });
});
