// The built-in library as a regression suite: every scenario, every variant, on embedded
// PostgreSQL, the CI machine's PostgreSQL 15 and its MariaDB 10.11. Each variant must meet the
// expectation written in its file (the bug shows its anomaly, each fix none, or the per-engine
// expectation the file explains), and the transcript must be the same on a second run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectDatabase } from '../../src/dialect/connect.js';
import type { Dialect } from '../../src/engine/dialect.js';
import { runVariant } from '../../src/engine/run.js';
import { detect } from '../../src/detect/detect.js';
import { planScenario } from '../../src/plan/plan.js';
import { builtinFiles, loadFile } from '../../src/scenario/load.js';
import { TextReporter } from '../../src/report/text.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate, type Gate } from '../helpers/servers.js';

const scenarios = builtinFiles().map((f) => loadFile(f).scenario!);
const text = new TextReporter({ color: false, verbose: false });
const none: Gate = { skip: false, require: () => undefined };

const targets: { label: string; url: string | undefined; gate: Gate }[] = [
  { label: 'embedded PostgreSQL', url: undefined, gate: none },
  { label: 'PostgreSQL 15', url: PG_URL, gate: await pgGate() },
  { label: 'MariaDB 10.11', url: MYSQL_URL, gate: await mysqlGate() },
];

for (const target of targets) {
  describe(`built-in library on ${target.label}`, { skip: target.gate.skip }, () => {
    let dialect: Dialect;
    before(async () => {
      target.gate.require();
      dialect = await connectDatabase(target.url);
    });
    after(async () => {
      await dialect?.close();
    });

    for (const sc of scenarios) {
      test(sc.name, async () => {
        const engine = dialect.info.dialect;
        if (sc.engines && !sc.engines.includes(engine)) assert.fail(`${sc.name} does not support ${engine}`);
        const { plans, problems } = planScenario(sc, { engine, placeholder: (n) => dialect.placeholder(n) });
        assert.deepEqual(problems, []);
        const transcripts: string[] = [];
        for (let round = 0; round < 2; round++) {
          const out: string[] = [];
          for (const plan of plans) {
            const run = await runVariant(dialect, plan);
            const verdict = detect(run);
            const what = `${sc.name} ${plan.name}: expected ${plan.expected.join('+') || 'clean'}, saw ${verdict.observed.join('+') || 'clean'}`;
            assert.ok(verdict.met, what);
            if (!plan.fix) assert.ok(verdict.observed.length > 0, `${sc.name}: the bug must show an anomaly`);
            out.push(text.variant({ mode: 'schedule', run, verdict }));
          }
          transcripts.push(out.join(''));
        }
        assert.equal(transcripts[1], transcripts[0], `${sc.name}: the transcript changed between two runs`);
      });
    }
  });
}
