// `--pace` (issue #11): in a real terminal (a tmux pane: a pseudo-terminal), Enter runs the next
// step and q quits as Ctrl-C does: exit 130, the scratch database dropped (checked in pg_database
// on the PostgreSQL 15 server). Refused, with one usage line, where there is no terminal to read.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { builtinFiles } from '../../src/scenario/load.js';
import { BIN, lockrepro, noStack, scratchFolder } from '../helpers/cli.js';
import { PG_URL, gate, pgUnreachableReason } from '../helpers/servers.js';

const tmuxMissing = spawnSync('tmux', ['-V']).status === 0 ? null : 'tmux is not installed';
const server = await pgUnreachableReason(PG_URL);
const g = gate('tmux and PostgreSQL 15', tmuxMissing ?? server);

test('--pace where no terminal can be read: one usage line, exit 2', () => {
  // spawnSync gives the child a pipe for stdin: what `echo | lockrepro run x --pace` does.
  const r = lockrepro(['run', 'ab-ba-deadlock', '--pace']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'lockrepro: --pace waits for Enter on a terminal, and stdin is not one\n');
  assert.equal(r.stdout, '');
  const j = lockrepro(['run', 'ab-ba-deadlock', '--pace', '--json']);
  assert.equal(j.code, 2);
  assert.match(j.stderr, /^lockrepro: --pace shows a run step by step in a terminal: not with --json\n$/);
  noStack(j.stderr);
});

describe('--pace in a terminal', { skip: g.skip }, () => {
  const session = `lockrepro-pace-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });
  const pane = () => tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session).stdout;
  after(() => tmux('kill-session', '-t', session));

  /** Poll the pane until `re` shows, bounded (a terminal has no event to wait on). */
  async function until(re: RegExp, boundMs = 30_000): Promise<string> {
    const t0 = performance.now();
    for (;;) {
      const text = pane();
      if (re.test(text)) return text;
      if (performance.now() - t0 > boundMs) assert.fail(`${re} did not show within ${boundMs} ms; the pane:\n${text}`);
      await delay(50);
    }
  }

  test('Enter runs each step; q quits: exit 130 and the scratch database is gone', async () => {
    g.require();
    // A scenario name of its own, so its scratch database is told from anyone else's.
    const name = `pace-probe-${process.pid}`;
    const abba = readFileSync(builtinFiles().find((f) => f.endsWith('ab-ba-deadlock.yaml'))!, 'utf8');
    const file = scratchFolder()(`${name}.yaml`, abba.replace('name: ab-ba-deadlock', `name: ${name}`));
    const command = `NO_COLOR=1 '${process.execPath}' '${BIN}' run '${file}' --variant bug --db '${PG_URL}' --pace; echo "EXIT=$?"; sleep 600`;
    assert.equal(tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', command).status, 0);

    await until(/▶ next: alice begin · Enter runs it, q quits/);
    assert.doesNotMatch(pane(), /alice +begin +BEGIN/, 'nothing runs before Enter');
    for (const next of ['bob begin', 'alice first', 'bob first', 'alice second']) {
      tmux('send-keys', '-t', session, 'Enter');
      await until(new RegExp(`▶ next: ${next} ·`));
    }
    tmux('send-keys', '-t', session, 'Enter');
    const waiting = await until(/⏳ alice waits for bob · row account \(id=2\)\n.*▶ next: bob second/);
    assert.match(waiting, /bob +first +UPDATE account SET balance = balance - 10 WHERE id = 2 +→ 1 row changed/);

    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const scratch = `lockrepro_${name.replace(/-/g, '_')}_%`;
      const count = async () =>
        Number((await client.query('SELECT count(*) AS n FROM pg_database WHERE datname LIKE $1', [scratch])).rows[0].n);
      assert.equal(await count(), 1, 'the scratch database exists while the run waits for Enter');
      tmux('send-keys', '-t', session, 'q');
      const end = await until(/EXIT=\d+/);
      assert.match(end, /lockrepro: quit \(q\): scratch database dropped\nEXIT=130/);
      assert.equal(await count(), 0, 'the scratch database was dropped');
    } finally {
      await client.end();
    }
  });
});
