// The terminal (issue #11): lines wrapped to its width, one colour per worker. Pure functions of
// text and of a run on the fake dialect; a pipe gets neither (the goldens pin that).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitWidth, visibleWidth, wrapLine } from '../../src/report/format.js';
import { TextReporter } from '../../src/report/text.js';
import { runVariant } from '../../src/engine/run.js';
import { detect } from '../../src/detect/detect.js';
import { FakeDialect } from '../helpers/fake-dialect.js';
import { plansFrom } from '../helpers/scenario.js';

/** The escape that starts a colour code (a literal in a regex is a lint error). */
const ESC = String.fromCharCode(27);

const STEP = "   alice  second  UPDATE account SET balance = balance + 10 WHERE id = 2 AND note = 'a long one'  → 1 row changed";

test('a step line longer than the terminal goes on under its SQL, no line wider than the terminal', () => {
  const lines = wrapLine(STEP, 60);
  assert.deepEqual(lines, [
    '   alice  second  UPDATE account SET balance = balance + 10',
    "                  WHERE id = 2 AND note = 'a long one'  → 1",
    '                  row changed',
  ]);
  for (const l of lines) assert.ok(visibleWidth(l) <= 60, l);
});

test('lines that fit, tables, and very narrow terminals are left alone', () => {
  assert.deepEqual(wrapLine('   bob    begin   BEGIN', 60), ['   bob    begin   BEGIN']);
  const table = '│ ab-ba-deadlock │ bug           │ read-committed │ deadlock │ deadlock │ ✓ │';
  assert.deepEqual(wrapLine(table, 40), [table]);
  assert.deepEqual(wrapLine(STEP, 10), [STEP]);
});

test('colour codes take no room, and a word longer than the line stands alone', () => {
  const red = `${ESC}[31m${'x'.repeat(30)}${ESC}[39m`;
  assert.equal(visibleWidth(red), 30);
  assert.equal(visibleWidth('⏳ a'), 4, '⏳ is two columns wide');
  assert.deepEqual(wrapLine(`${red} ${red}`, 40), [red, `  ${red}`]);
  assert.deepEqual(wrapLine(`ab ${'y'.repeat(50)} cd`, 30), ['ab', `  ${'y'.repeat(50)}`, '  cd']);
});

test('fitWidth wraps each line of a text and keeps its line ends', () => {
  assert.equal(fitWidth(`short\n${STEP}\n`, 60).split('\n').length, 5);
  assert.equal(fitWidth(`short\n${STEP}\n`, 200), `short\n${STEP}\n`);
});

const TWO = `name: two
title: t
story: s
workers:
  alice:
    - { name: begin, sql: BEGIN }
    - { name: commit, sql: COMMIT }
  bob:
    - { name: begin, sql: BEGIN }
    - { name: commit, sql: COMMIT }
expect: clean
`;

test('one colour per worker when colour is on; plain text when it is off', async () => {
  const [plan] = plansFrom(TWO);
  const run = await runVariant(new FakeDialect(), plan!);
  const v = { run, verdict: detect(run), mode: 'schedule' } as unknown as Parameters<TextReporter['variant']>[0];
  const coloured = new TextReporter({ color: true, verbose: false }).variant(v);
  const colourOf = (name: string) => new RegExp(`(${ESC}\\[\\d+m)${name}\\s*${ESC}\\[39m`).exec(coloured)?.[1];
  assert.ok(colourOf('alice'), coloured);
  assert.ok(colourOf('bob'));
  assert.notEqual(colourOf('alice'), colourOf('bob'));
  const plain = new TextReporter({ color: false, verbose: false }).variant(v);
  assert.ok(!plain.includes(ESC));
  assert.equal(plain, coloured.replace(new RegExp(`${ESC}\\[[0-9;]*m`, 'g'), ''), 'the same text, colours aside');
});

test('main() wraps text to a terminal width, never on a pipe, never JSON', async () => {
  const { main } = await import('../../src/cli/main.js');
  const list = async (isTTY: boolean, args: string[] = []) => {
    let out = '';
    const io = {
      out: (t: string) => {
        out += t;
      },
      err: () => undefined,
      env: {},
      isTTY,
      columns: 60,
    };
    await main(['list', ...args], io);
    return out;
  };
  const tty = await list(true);
  for (const l of tty.split('\n')) assert.ok(visibleWidth(l) <= 60, l);
  const pipe = await list(false);
  assert.ok(
    pipe.split('\n').some((l) => l.length > 60),
    'a pipe gets lines as they are',
  );
  assert.equal(tty.replace(/\s+/g, ' '), pipe.replace(/\s+/g, ' '), 'the same words');
  JSON.parse(await list(true, ['--json']));
});
