// The built-in library as a regression suite: every scenario on embedded PostgreSQL, the CI
// machine's PostgreSQL 15 and its MariaDB 10.11, and SQLite in both journal modes (every scenario
// that runs there; the others must say why they do not), run once as `lockrepro run <name> --no-color
// [--db URL]` (through the CLI's main(), in this process). Each variant must meet the expectation
// written in its file (the bug shows its anomaly, each fix none, or the per-engine expectation the
// file explains), and the transcript must be the golden one in test/golden/<target>/<name>.txt,
// written by the built binary (test/golden/README.md; `npm run golden` regenerates them).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { engineSkipReason, planScenario } from '../../src/plan/plan.js';
import { forEngine } from '../../src/scenario/engines.js';
import { builtinFiles, loadFile } from '../../src/scenario/load.js';
import { redactUrl } from '../../src/util/redact.js';
import type { CliResult } from '../helpers/cli.js';
import { unifiedDiff } from '../helpers/diff.js';
import {
  GOLDEN_DIR,
  GOLDEN_TARGETS,
  goldenCommand,
  goldenFile,
  junitCases,
  normalise,
  readGolden,
  regenerateCommand,
  runGoldenInProcess,
} from '../helpers/golden.js';
import { gate, type Gate } from '../helpers/servers.js';

const firstLine = (s: string) => s.slice(0, s.indexOf('\n') + 1);
const scenarios = builtinFiles().map((f) => loadFile(f).scenario!);
// Every server is asked once, before any test runs.
const gates: Gate[] = [];
for (const target of GOLDEN_TARGETS) {
  gates.push(
    target.url === undefined
      ? { skip: false, require: () => undefined }
      : gate(`${target.label} at ${redactUrl(target.url)}`, await target.unreachable()),
  );
}

for (const [i, target] of GOLDEN_TARGETS.entries()) {
  const g = gates[i]!;
  describe(`built-in library on ${target.label}`, { skip: g.skip }, () => {
    // A scenario that leaves this engine out (engines:) says why, in its note for the engine.
    test('scenarios left out say why', () => {
      const bare = scenarios.filter((sc) => engineSkipReason(sc, target.engine) && !forEngine(sc.notes, target.engine));
      assert.deepEqual(
        bare.map((sc) => sc.name),
        [],
      );
    });
    for (const sc of scenarios.filter((s) => engineSkipReason(s, target.engine) === null)) {
      test(sc.name, async () => {
        g.require();
        // Only the variants' names and expectations are read here; the CLI plans and runs them.
        const { plans, problems } = planScenario(sc, { engine: target.engine, placeholder: (n) => `$${n}` });
        assert.deepEqual(problems, []);

        const reports = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-golden-'));
        let r: CliResult;
        let xml: string;
        try {
          const junit = path.join(reports, 'junit.xml');
          r = await runGoldenInProcess(target, sc.name, ['--junit', junit]);
          assert.ok(r.code === 0 || r.code === 1, `${goldenCommand(target, sc.name)} exited ${r.code}:\n${r.stderr}`);
          xml = readFileSync(junit, 'utf8');
        } finally {
          rmSync(reports, { recursive: true, force: true });
        }

        const wrong: string[] = [];
        const cases = junitCases(xml);
        assert.equal(cases.length, plans.length, `one JUnit testcase per variant:\n${cases.map((c) => c.name).join('\n')}`);
        plans.forEach((plan, k) => {
          const { name, failure } = cases[k]!;
          if (failure !== null) wrong.push(`${name}: ${failure}`);
          // met means "saw exactly what was expected", so a bug expecting something shows it.
          if (!plan.fix && plan.expected.length === 0) wrong.push(`${name}: the bug must expect (and show) an anomaly on ${target.engine}`);
        });
        if (r.code !== 0 && wrong.length === 0) wrong.push(`exit ${r.code} although every variant met its expectation:\n${r.stderr}`);

        const file = path.relative(process.cwd(), goldenFile(target, sc.name));
        const golden = readGolden(target, sc.name);
        let diff =
          golden === null
            ? `no golden file ${file}\n`
            : unifiedDiff(normalise(target, golden), normalise(target, r.stdout), {
                expected: file,
                actual: goldenCommand(target, sc.name),
              });
        if (
          golden !== null &&
          target.url !== undefined &&
          firstLine(normalise(target, golden)) !== firstLine(normalise(target, r.stdout))
        ) {
          diff +=
            "\nThe header line names the engine, its major version and the URL: the golden files were recorded on the CI machine's servers at the default LOCKREPRO_TEST_PG_URL / LOCKREPRO_TEST_MYSQL_URL.\n";
        }
        if (diff)
          diff += `\nIf the new transcript is right, regenerate and review the change:\n  ${regenerateCommand(target, sc.name)}\n  git diff ${file}\n`;

        if (wrong.length > 0 || diff) assert.fail([...wrong.map((w) => `${sc.name} ${w}`), diff].filter(Boolean).join('\n\n'));
      });
    }
  });
}

test('every golden file belongs to a built-in scenario and a target', () => {
  const names = new Set(scenarios.map((s) => `${s.name}.txt`));
  const targets = new Set(GOLDEN_TARGETS.map((t) => t.name));
  const stray: string[] = [];
  for (const entry of readdirSync(GOLDEN_DIR, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    if (!targets.has(entry.name)) stray.push(`${entry.name}/`);
    else for (const f of readdirSync(path.join(GOLDEN_DIR, entry.name))) if (!names.has(f)) stray.push(`${entry.name}/${f}`);
  }
  assert.deepEqual(
    stray,
    [],
    `stray files in ${path.relative(process.cwd(), GOLDEN_DIR)} (\`npm run golden\` removes those of scenarios no longer built in)`,
  );
});

// A scratch schema changes where the tables live, not what happens in them: every transcript is
// the scratch database's, word for word, but for the header's note on the scratch.
test('--scratch schema: the same transcripts as a scratch database on PostgreSQL 15, but for the header', () => {
  const byName = (name: string) => GOLDEN_TARGETS.find((t) => t.name === name)!;
  const [database, schema] = [byName('postgres-15'), byName('postgres-15-schema')];
  const note = ', scratch a schema in database postgres, dropped at the end (--scratch schema)';
  for (const sc of scenarios) {
    const expected = readGolden(database, sc.name);
    const actual = readGolden(schema, sc.name);
    assert.ok(expected !== null && actual !== null, `${sc.name}: golden files on both targets`);
    const header = firstLine(actual);
    assert.ok(header.includes(note), `${sc.name}: the header says where the scratch is: ${header}`);
    assert.equal(actual.replace(note, ''), expected, `${sc.name}: test/golden/postgres-15-schema differs from postgres-15`);
  }
});
