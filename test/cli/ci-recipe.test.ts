// docs/ci.md's recipe works: its `lockrepro run` lines, read from the file, run against the local
// servers as a pipeline runs them (a shell, DATABASE_URL set, stdout redirected to the JSON file).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN } from '../helpers/cli.js';
import { MYSQL_URL, PG_URL, mysqlGate, pgGate } from '../helpers/servers.js';

const pgServer = await pgGate();
const maria = await mysqlGate();

/** The shell commands of docs/ci.md's code blocks that run lockrepro (a `run:` value or a script item). */
function recipeCommands(): string[] {
  const doc = readFileSync('docs/ci.md', 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((b) =>
    b
      .split('\n')
      .map((l) => l.trim().replace(/^(?:run:|-)\s+/, ''))
      .filter((l) => /^npx --yes lockrepro run /.test(l)),
  );
}

describe("docs/ci.md's commands", () => {
  const commands = recipeCommands();

  test('there are four: GitHub Actions and GitLab CI, each on PostgreSQL and MariaDB', () => {
    assert.equal(commands.length, 4, commands.join('\n'));
    for (const engine of ['postgres', 'mariadb']) assert.equal(commands.filter((c) => c.includes(`lockrepro-${engine}.xml`)).length, 2);
  });

  for (const [i, command] of commands.entries()) {
    const engine = command.includes('lockrepro-postgres.xml') ? 'postgres' : 'mariadb';
    const gate = engine === 'postgres' ? pgServer : maria;
    test(`${i + 1}: ${engine}: exit 0, the JSON report on stdout, the JUnit file written`, { skip: gate.skip }, () => {
      gate.require();
      const work = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-ci-recipe-'));
      mkdirSync(path.join(work, 'concurrency'));
      for (const s of ['ab-ba-deadlock', 'transfer-lost-update']) {
        copyFileSync(path.resolve(`scenarios/${s}.yaml`), path.join(work, 'concurrency', `${s}.yaml`));
      }
      // The published package's command is this checkout's build.
      const local = command.replace('npx --yes lockrepro', `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)}`);
      const r = spawnSync('bash', ['-c', local], {
        cwd: work,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', LOCKREPRO_DB: '', DATABASE_URL: engine === 'postgres' ? PG_URL : MYSQL_URL },
        timeout: 600_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(readFileSync(path.join(work, `lockrepro-${engine}.json`), 'utf8'));
      assert.equal(doc.ok, true);
      assert.deepEqual(
        doc.scenarios.map((s: { name: string }) => s.name),
        ['ab-ba-deadlock', 'transfer-lost-update'],
      );
      const xml = readFileSync(path.join(work, `lockrepro-${engine}.xml`), 'utf8');
      assert.match(xml, /<testsuites name="lockrepro" tests="\d+" failures="0" errors="0"/);
    });
  }
});
