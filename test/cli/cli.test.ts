// The built binary (bin/lockrepro.js → dist/), as a user runs it: exit codes, JSON, messages.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { BIN, lockrepro, noStack, scratchFolder } from '../helpers/cli.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';
import { FIVE_PROBLEMS } from '../helpers/scenario.js';

const external = await pgGate();
const maria = await mysqlGate();
const file = scratchFolder();

describe('usage and invalid scenarios (exit 2)', () => {
  test('a YAML syntax error, an unknown key and a schedule naming a missing step: one file:line line each', () => {
    const syntax = file('syntax.yaml', 'name: x\ntitle: t\nstory: s\nworkers:\n  a: [ { name: b, sql: x }\n  c: 1\nexpect: clean\n');
    const unknown = file(
      'unknown.yaml',
      'name: y\ntitle: t\nstory: s\nworkers:\n  a:\n    - { name: b, sql: SELECT 1 }\nexpect: clean\ncolour: red\n',
    );
    const sched = file(
      'sched.yaml',
      'name: z\ntitle: t\nstory: s\nworkers:\n  a:\n    - { name: b, sql: SELECT 1 }\nschedule: [a.b, a.nope]\nexpect: clean\n',
    );
    for (const cmd of ['check', 'run']) {
      const r = lockrepro([cmd, syntax, unknown, sched]);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 3, r.stderr);
      // The `[` opened on line 5 is never closed; the parser finds out at the next key, line 6.
      assert.ok(lines[0]!.startsWith(`${syntax}:6: YAML: `), lines[0]);
      assert.ok(lines[1]!.startsWith(`${unknown}:8: unknown key "colour"`), lines[1]);
      assert.ok(lines[2]!.startsWith(`${sched}:7: schedule names a.nope, which is not a step of a`), lines[2]);
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

  test('check reports shape and reference problems of one file together: five file:line lines, exit 2', () => {
    const f = file('five.yaml', `name: five\ntitle: t\nstory: s\n${FIVE_PROBLEMS}`);
    const r = lockrepro(['check', f]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.slice(0, l.indexOf(': ', f.length + 1))),
      [7, 8, 9, 10, 11].map((n) => `${f}:${n}`),
      r.stderr,
    );
    assert.match(lines[0]!, /:7: workers\.a\[0\]: unknown key "colour"$/);
    assert.match(lines[1]!, /:8: step a\.lock has no SQL for mariadb$/);
    assert.match(lines[2]!, /:9: a\.use uses :vv, which no earlier step of a saves$/);
    assert.match(lines[3]!, /:10: schedule names a\.missing, which is not a step of a/);
    assert.match(lines[4]!, /:11: expect: "deadlok" is not one of: /);
    noStack(r.stderr);
  });

  test("show prints what a step catches and checks: the get-or-create catch, the optimistic fix's row count", () => {
    const g = lockrepro(['show', 'get-or-create-duplicates']);
    assert.equal(g.code, 0, g.stderr);
    // Under each request's create step, and under insert-first's replaced create steps (kept).
    const catches = g.stdout.match(/^ {17}catches unique-violation, runs ROLLBACK TO SAVEPOINT create_tag, and goes on$/gm);
    assert.equal(catches?.length, 2, g.stdout);
    assert.match(
      g.stdout,
      /^ {2}replace request1\.create: \[postgres\] INSERT .*\n(?: +\[\w+\] +.*\n)+ {4}catches unique-violation, runs ROLLBACK TO SAVEPOINT create_tag, and goes on$/m,
    );
    const t = lockrepro(['show', 'transfer-lost-update']);
    assert.equal(t.code, 0, t.stderr);
    const fix = t.stdout.slice(t.stdout.indexOf('\nfix optimistic-version'));
    assert.ok(fix.length > 1, t.stdout);
    for (const who of ['alice', 'bob']) {
      assert.match(
        fix,
        new RegExp(
          `^  replace ${who}\\.write: UPDATE account SET .* AND version = :version\\n    expects 1 row changed; any other count is a conflict \\(serialization\\)$`,
          'm',
        ),
      );
      assert.match(
        fix,
        new RegExp(
          `^  insert after ${who}\\.begin: read: SELECT balance, version FROM account WHERE id = 1 +→ saves balance, version$`,
          'm',
        ),
      );
    }
    assert.match(fix, /^ {2}on postgres: At READ COMMITTED Bob's waiting UPDATE/m);
    assert.match(t.stdout, /^bug expects: lost-update\n {2}on postgres: At READ COMMITTED/m);
  });

  test('check and list succeed on the built-in library', () => {
    const c = lockrepro(['check', 'scenarios']);
    assert.equal(c.code, 0, c.stderr);
    const l = lockrepro(['list']);
    assert.equal(l.code, 0);
    assert.match(l.stdout, /^ab-ba-deadlock\s+Two transactions/m);
    assert.match(l.stdout, /^transfer-lost-update\s+/m);
    // What each demonstrates and where it runs, on the line under its title.
    assert.match(
      l.stdout,
      /^ab-ba-deadlock {2,}Two transactions.*\n {20,}shows deadlock · fix: one-order · runs on postgres, mysql, mariadb$/m,
    );
    assert.match(
      l.stdout,
      /^transfer-lost-update .*\n +shows lost-update · fixes: for-update, .* · runs on postgres, mysql, mariadb, sqlite$/m,
    );
    const j = lockrepro(['list', '--json']);
    assert.equal(j.code, 0);
    const abba = (JSON.parse(j.stdout) as { name: string; expect: unknown; engines: string[] }[]).find((x) => x.name === 'ab-ba-deadlock');
    assert.deepEqual(abba?.expect, { postgres: ['deadlock'], mysql: ['deadlock'], mariadb: ['deadlock'] });
    assert.deepEqual(abba?.engines, ['postgres', 'mysql', 'mariadb']);
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
    assert.deepEqual(Object.keys(bug), [
      'name',
      'fix',
      'isolation',
      'mode',
      'runs',
      'expected',
      'observed',
      'met',
      'counts',
      'note',
      'steps',
      'deadlockReports',
      'checks',
    ]);
    assert.deepEqual(
      bug.deadlockReports.map((d: { victim: string; cycle: string[] }) => [d.victim, [...d.cycle].sort()]),
      [['bob', ['alice', 'bob']]],
    );
    assert.equal(bug.counts.deadlocks, 1);
    assert.equal(fix.counts.deadlocks, 0);
    const victim = bug.steps.find((s: { error: unknown }) => s.error);
    assert.deepEqual(victim.error.kind, 'deadlock');
    assert.equal(victim.error.code, '40P01');
    assert.ok(bug.steps.some((s: { blocked: boolean; blockedBy: string[] }) => s.blocked && s.blockedBy.includes('alice')));
  });

  test('a scenario whose expectation is not met exits 1 (the bug showed an anomaly its scenario calls clean)', () => {
    external.require();
    const src = readFileSync('scenarios/ab-ba-deadlock.yaml', 'utf8')
      .replace('\nexpect: deadlock\n', '\nexpect: clean\n')
      .replace('name: ab-ba-deadlock', 'name: wrong-expectation');
    const r = lockrepro(['run', file('wrong.yaml', src), '--db', PG_URL]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /saw deadlock; expected clean {2}✗/);
  });

  test('Ctrl-C mid-run exits 130 and drops the scratch database', async () => {
    external.require();
    const stuck = file(
      'stuck.yaml',
      `name: ctrl-c
title: t
story: s
timeout: 60000
workers:
  a:
    - { name: hold, sql: SELECT pg_advisory_lock(7) }
  b:
    - { name: wait, sql: SELECT pg_advisory_lock(7) }
expect: hang
`,
    );
    const child = spawn(process.execPath, [BIN, 'run', stuck, '--db', PG_URL], { env: { ...process.env, NO_COLOR: '1' } });
    const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    let stderr = '';
    const acknowledged = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('interrupted: cleaning up')) resolve();
      }),
    );
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      // Wait (bounded) until the worker is really blocked on the lock, then interrupt.
      let scratch: string | undefined;
      const deadline = Date.now() + 30_000;
      while (!scratch && Date.now() < deadline) {
        const r = await c.query(
          "SELECT datname FROM pg_stat_activity WHERE datname LIKE 'lockrepro\\_ctrl\\_c\\_%' AND wait_event_type = 'Lock'",
        );
        scratch = r.rows[0]?.datname;
      }
      assert.ok(scratch, 'the run reached the blocked step');
      // Twice, the second as soon as the first is acknowledged, as when `timeout -s INT` or a
      // terminal signals both the process and its group: one Ctrl-C, which must still clean up.
      child.kill('SIGINT');
      await acknowledged;
      child.kill('SIGINT');
      assert.equal(await exit, 130);
      assert.match(stderr, /interrupted: scratch databases dropped/);
      const left = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratch]);
      assert.equal(left.rowCount, 0, 'scratch database dropped');
    } finally {
      child.kill('SIGKILL');
      await c.end();
    }
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
    assert.deepEqual(
      bug.checks.map((c: { expected: number; actual: number }) => [c.expected, c.actual]),
      [[20, 50]],
    );
    assert.ok(fixes.length >= 2);
    for (const f of fixes) {
      assert.equal(f.observed, 'clean', f.name);
      assert.ok(
        f.checks.every((c: { passed: boolean }) => c.passed),
        f.name,
      );
      // A fix that retries shows the errors it absorbed, one per retry; any other count is 0.
      const { retries, serializationFailures, deadlocks, ...rest } = f.counts;
      assert.equal(serializationFailures + deadlocks, retries, `${f.name}: ${JSON.stringify(f.counts)}`);
      assert.ok(
        Object.values(rest).every((n) => n === 0),
        `${f.name}: ${JSON.stringify(f.counts)}`,
      );
    }
    for (const name of ['for-update', 'atomic-update']) {
      const f = fixes.find((x: { name: string }) => x.name === name);
      assert.ok(
        Object.values(f.counts).every((n) => n === 0),
        `${name}: ${JSON.stringify(f.counts)}`,
      );
    }
    // optimistic-version meets the bug's race: both read the same row before either writes.
    type Step = { worker: string; step: string; attempt: number; rows: Record<string, unknown>[] };
    const race = (v: { steps: Step[] }) =>
      v.steps.filter((s) => s.attempt === 1 && /^(read|write)$/.test(s.step)).map((s) => `${s.worker}.${s.step}`);
    const optimistic = fixes.find((x: { name: string }) => x.name === 'optimistic-version');
    assert.deepEqual(race(bug), ['alice.read', 'bob.read', 'alice.write', 'bob.write']);
    assert.deepEqual(race(optimistic), race(bug));
    const reads = optimistic.steps.filter((s: Step) => s.attempt === 1 && s.step === 'read');
    assert.deepEqual(
      reads.map((s: Step) => s.rows),
      [[{ balance: 100, version: 0 }], [{ balance: 100, version: 0 }]],
    );
  });

  test('ab-ba-deadlock text transcript: the wait, the victim, the summary; the same twice', () => {
    const a = lockrepro(['run', 'ab-ba-deadlock']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /⏳ alice waits for bob/);
    assert.match(a.stdout, /bob is the deadlock victim/);
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
    assert.ok(
      bug.steps.some(
        (s: { worker: string; blocked: boolean; blockedBy: string[] }) => s.worker === 'alice' && s.blocked && s.blockedBy.includes('bob'),
      ),
    );
    assert.ok(Object.values(fix.counts).every((n) => n === 0));
  });

  test("transfer-lost-update: lost at MariaDB's default REPEATABLE READ, fixes clean, the report says how PostgreSQL differs", () => {
    maria.require();
    const r = lockrepro(['run', 'transfer-lost-update', '--db', MYSQL_URL]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /── bug · repeatable read · expect lost-update/);
    assert.match(r.stdout, /expected 20, got 50 → lost-update/);
    assert.match(r.stdout, /on mariadb: .*PostgreSQL/s);
    assert.match(r.stdout, /every expectation met/);
    // optimistic-version races like the bug: both read version 0 before either writes.
    const fix = r.stdout.slice(r.stdout.indexOf('── fix optimistic-version'));
    const firstWrite = fix.indexOf('alice  write');
    for (const who of ['alice', 'bob']) {
      const read = fix.search(new RegExp(`${who} +read .* → \\(balance = 100, version = 0\\)`));
      assert.ok(read > 0 && read < firstWrite, `${who} reads 100 before the first write:\n${fix}`);
    }
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
