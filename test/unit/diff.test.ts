// The unified diff the golden-transcript test and the load bench print (test/helpers/diff.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unifiedDiff } from '../helpers/diff.js';

const labels = { expected: 'golden.txt', actual: 'lockrepro run x' };
const text = (n: number, change: Record<number, string> = {}) =>
  `${Array.from({ length: n }, (_, i) => change[i + 1] ?? `line ${i + 1}`).join('\n')}\n`;

test('equal texts: no diff', () => {
  assert.equal(unifiedDiff(text(5), text(5), labels), '');
});

test('one changed line: one hunk with three lines of context, removed before added', () => {
  assert.equal(
    unifiedDiff(text(20), text(20, { 10: 'LINE 10' }), labels),
    [
      '--- golden.txt',
      '+++ lockrepro run x',
      '@@ -7,7 +7,7 @@',
      ' line 7',
      ' line 8',
      ' line 9',
      '-line 10',
      '+LINE 10',
      ' line 11',
      ' line 12',
      ' line 13',
      '',
    ].join('\n'),
  );
});

test('changes far apart are separate hunks, near ones share one', () => {
  const far = unifiedDiff(text(30), text(30, { 3: 'x', 25: 'y' }), labels);
  assert.deepEqual(
    far.split('\n').filter((l) => l.startsWith('@@')),
    ['@@ -1,6 +1,6 @@', '@@ -22,7 +22,7 @@'],
  );
  const near = unifiedDiff(text(30), text(30, { 10: 'x', 16: 'y' }), labels);
  assert.deepEqual(
    near.split('\n').filter((l) => l.startsWith('@@')),
    ['@@ -7,13 +7,13 @@'],
  );
});

test('two lines swapped (a deadlock victim reported in another order) read as one moved line', () => {
  const d = unifiedDiff('a\nb\nc\n', 'a\nc\nb\n', labels);
  assert.equal(d.split('\n').slice(2).join('\n'), '@@ -1,3 +1,3 @@\n a\n-b\n c\n+b\n');
});

test('added lines, an empty side, and a missing final newline are shown as diff -u does', () => {
  assert.equal(unifiedDiff('', 'a\n', labels).split('\n').slice(2).join('\n'), '@@ -0,0 +1 @@\n+a\n');
  assert.equal(unifiedDiff('a\n', 'a', labels).split('\n').slice(2).join('\n'), '@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n');
});
