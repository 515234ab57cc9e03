// What a CI pipeline relies on: every result kept when one scenario is broken, one JSON object on
// every exit, a typo blamed on the scenario (exit 2) and never taken for a race (exit 1).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lockrepro, noStack } from '../helpers/cli.js';
import { PG_URL, pgGate } from '../helpers/servers.js';

const external = await pgGate();

type Doc = {
  ok: boolean;
  error?: { kind: string; message: string; problems: { file: string; line: number; message: string }[] };
  scenarios?: { name: string; variants: { met: boolean }[]; error?: { kind: string; file: string; line: number; code: string } }[];
};

/** A folder of three scenarios: ab-ba-deadlock as shipped, one with a setup typo, one with a step typo. */
function brokenFolder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-ci-'));
  const abba = path.resolve('scenarios/ab-ba-deadlock.yaml');
  copyFileSync(abba, path.join(dir, 'a-good.yaml'));
  const text = readFileSync(abba, 'utf8');
  writeFileSync(
    path.join(dir, 'b-setup.yaml'),
    text.replace('name: ab-ba-deadlock', 'name: broken-setup').replace('CREATE TABLE account', 'CREATE TABLEX account'),
  );
  writeFileSync(
    path.join(dir, 'c-step.yaml'),
    text
      .replace('name: ab-ba-deadlock', 'name: broken-step')
      .replace('"UPDATE account SET balance = balance - 10 WHERE id = 1"', '"UPDATE acount SET balance = balance - 10 WHERE id = 1"'),
  );
  return dir;
}

/** The 1-based line of the shipped ab-ba-deadlock.yaml that holds `text` (the typos' lines). */
function lineOf(text: string): number {
  return (
    readFileSync(path.resolve('scenarios/ab-ba-deadlock.yaml'), 'utf8')
      .split('\n')
      .findIndex((l) => l.includes(text)) + 1
  );
}
const SETUP_LINE = lineOf('CREATE TABLE account');
const STEP_LINE = lineOf('"UPDATE account SET balance = balance - 10 WHERE id = 1"');

describe('a broken scenario among good ones (PostgreSQL 15)', { skip: external.skip }, () => {
  test('every scenario is reported, JSON and JUnit included; the broken ones are exit 2 with file:line', () => {
    external.require();
    const dir = brokenFolder();
    const junit = path.join(dir, 'report.xml');
    const r = lockrepro(['run', dir, '--db', PG_URL, '--json', '--junit', junit]);
    assert.equal(r.code, 2, r.stderr);
    noStack(r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.ok, false);
    assert.equal(doc.error!.kind, 'invalid-scenario');
    assert.deepEqual(
      doc.scenarios!.map((s) => [s.name, s.variants.length, s.error?.code ?? null, s.error?.line ?? null]),
      [
        ['ab-ba-deadlock', 2, null, null],
        ['broken-setup', 0, '42601', SETUP_LINE],
        ['broken-step', 1, '42P01', STEP_LINE],
      ],
    );
    assert.ok(doc.scenarios![0]!.variants.every((v) => v.met));
    assert.deepEqual(r.stderr.trim().split('\n'), [
      `${path.join(dir, 'b-setup.yaml')}:${SETUP_LINE}: setup SQL failed: 42601 syntax error at or near "TABLEX"`,
      `${path.join(dir, 'c-step.yaml')}:${STEP_LINE}: alice.first: 42P01 relation "acount" does not exist`,
    ]);
    const xml = readFileSync(junit, 'utf8');
    assert.match(xml, /<testsuites name="lockrepro" tests="5" failures="1" errors="2" skipped="0">/);
    assert.match(xml, new RegExp(`name="scenario SQL" time="0.000"><error message="[^"]*b-setup\\.yaml:${SETUP_LINE}: setup SQL failed`));
    // A failure carries the variant's transcript.
    assert.match(xml, /<failure message="expected deadlock, saw error" type="expectation">[^<]*alice {2}first {3}UPDATE acount/);
  });

  test('without --json, the text report still shows the good scenario, then where the others failed', () => {
    external.require();
    const r = lockrepro(['run', brokenFolder(), '--db', PG_URL]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /━━ ab-ba-deadlock[\s\S]*saw deadlock; expected deadlock {2}✓/);
    assert.match(r.stdout, new RegExp(`✗ the scenario's own SQL failed at .*b-setup\\.yaml:${SETUP_LINE}`));
    assert.match(r.stdout, new RegExp(`│ broken-setup +│ its SQL failed \\(line ${SETUP_LINE}\\)`));
  });
});

describe('--json prints one object on every exit', () => {
  test('exit 2: an invalid scenario file, with every problem', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-ci-'));
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: x\ntitle: t\nstory: s\nworkers:\n  a:\n    - { name: b, sql: SELECT 1 }\nexpect: deadlok\ncolour: red\n');
    const r = lockrepro(['run', bad, '--json']);
    assert.equal(r.code, 2);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.error!.kind, 'invalid-scenario');
    assert.deepEqual(
      doc.error!.problems.map((p) => [path.basename(p.file), p.line]),
      [
        ['bad.yaml', 7],
        ['bad.yaml', 8],
      ],
    );
  });

  test('exit 2: a bad flag, and an empty --db (an unset variable) instead of silently running embedded', () => {
    for (const args of [
      ['run', 'ab-ba-deadlock', '--frobnicate', '--json'],
      ['run', 'ab-ba-deadlock', '--db=', '--json'],
    ]) {
      const r = lockrepro(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as Doc).error!.kind, 'usage');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('exit 3: a database that cannot be reached', () => {
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', 'postgres://nobody@127.0.0.1:1/x', '--json']);
    assert.equal(r.code, 3);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.equal(doc.ok, false);
    assert.equal(doc.error!.kind, 'database');
    assert.match(doc.error!.message, /ECONNREFUSED/);
  });
});
