// bin/lockrepro.js loads its bundle with V8's code cache (bin/load-bundle.js), kept under
// $XDG_CACHE_HOME/lockrepro/code-cache. The cache must only ever save time: a missing, corrupted or
// unwritable one gives the same output, and a bad one is replaced.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { lockrepro } from '../helpers/cli.js';

const CHECK = ['check', 'ab-ba-deadlock'];
const CHECKED = 'scenarios/ab-ba-deadlock.yaml: ok (ab-ba-deadlock: 2 workers, 1 fixes)\n';

/** `lockrepro check ab-ba-deadlock` with this XDG_CACHE_HOME: what it prints whatever the cache. */
function check(xdg: string): void {
  const r = lockrepro(CHECK, { XDG_CACHE_HOME: xdg });
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  assert.equal(r.stdout, CHECKED);
}

const made: string[] = [];
const freshXdg = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-code-cache-'));
  made.push(dir);
  return dir;
};
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});
const cacheDir = (xdg: string) => path.join(xdg, 'lockrepro', 'code-cache');

/** The one cache file, after a first run wrote it. */
function cacheFile(xdg: string): string {
  const files = readdirSync(cacheDir(xdg));
  assert.equal(files.length, 1, `one cache file and no temporary one: ${files.join(', ')}`);
  assert.match(files[0]!, /^main-[0-9a-f]{8}-[0-9a-f]+-\d+-\d+-check\.bin$/);
  return path.join(cacheDir(xdg), files[0]!);
}

test('the first run writes the cache, the next uses it without writing it again', () => {
  const xdg = freshXdg();
  check(xdg);
  const file = cacheFile(xdg);
  const first = statSync(file);
  assert.ok(first.size > 0);
  check(xdg);
  // Writing goes through a new file renamed into place: the same inode means nothing was written.
  assert.equal(statSync(cacheFile(xdg)).ino, first.ino, 'an accepted cache is not rewritten');
});

test('a command that did not go through (exit 2) writes no cache: the next one that works does', () => {
  const xdg = freshXdg();
  const bad = lockrepro(['check', 'no-such-scenario'], { XDG_CACHE_HOME: xdg });
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(existsSync(cacheDir(xdg)), false, 'no cache after a usage error');
  check(xdg);
  cacheFile(xdg);
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

const corruptions: [string, (good: Buffer) => Buffer][] = [
  // Damage V8 itself does not notice (it checks the header only): without the file's own SHA-256
  // this aborted Node with a fatal error.
  [
    'bytes flipped in the middle',
    (good) => {
      const bad = Buffer.from(good);
      for (let i = bad.length >> 1; i < (bad.length >> 1) + 64; i++) bad[i]! ^= 0xff;
      return bad;
    },
  ],
  // Intact as a file (its SHA-256 matches) but not a code cache: V8 rejects it.
  [
    'not a code cache',
    () => {
      const junk = Buffer.alloc(4096, 0x5a);
      return Buffer.concat([sha256(junk), junk]);
    },
  ],
  ['truncated', (good) => good.subarray(0, 20)],
];

for (const [what, corrupt] of corruptions) {
  test(`a corrupted cache (${what}) is not used and is replaced; caches of another build of the same bundle go`, () => {
    const xdg = freshXdg();
    check(xdg);
    const file = cacheFile(xdg);
    const good = readFileSync(file);
    const bad = corrupt(good);
    writeFileSync(file, bad);
    // A cache of this bundle from another build or Node (same path tag, other key): deleted once a new one is written.
    writeFileSync(path.join(cacheDir(xdg), `${path.basename(file).split('-').slice(0, 2).join('-')}-0-1-2.bin`), good);
    check(xdg);
    const replaced = readFileSync(cacheFile(xdg));
    assert.ok(!replaced.equals(bad), 'the corrupted cache was replaced');
    // And the new one is good: the run after it does not write it again.
    const ino = statSync(file).ino;
    check(xdg);
    assert.equal(statSync(file).ino, ino);
  });
}

test('a cache folder that cannot be made or written to changes nothing but the time', () => {
  // A file where a folder should be: mkdir fails for every user, root included.
  const xdg = freshXdg();
  writeFileSync(path.join(xdg, 'lockrepro'), 'not a folder');
  check(xdg);
  check(xdg);
  assert.equal(readFileSync(path.join(xdg, 'lockrepro'), 'utf8'), 'not a folder');

  // A read-only cache folder (root writes to it all the same; everyone else must not).
  const ro = freshXdg();
  mkdirSync(cacheDir(ro), { recursive: true });
  chmodSync(cacheDir(ro), 0o555);
  check(ro);
  check(ro);
  if (process.getuid?.() !== 0) assert.deepEqual(readdirSync(cacheDir(ro)), [], 'nothing written, no temporary file left');
  chmodSync(cacheDir(ro), 0o755);
});

test('import() of the embedded server package works from a cached bundle', () => {
  // Node 20 loses a vm.Script's import() callback when the script comes from the code cache;
  // the bundle imports through the bin's import() instead (src/dialect/import-package.ts).
  const xdg = freshXdg();
  check(xdg);
  cacheFile(xdg);
  // Each command has its cache: the first run writes run's, the second starts from it.
  for (const n of [1, 2]) {
    const r = lockrepro(['run', 'ab-ba-deadlock', '--variant', 'bug'], { XDG_CACHE_HOME: xdg });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\(embedded\)/);
    assert.match(r.stdout, /every expectation met/);
    assert.deepEqual(
      readdirSync(cacheDir(xdg))
        .map((f) => f.replace(/^main-.*-(\w+)\.bin$/, '$1'))
        .sort(),
      ['check', 'run'],
      `run ${n}: check's cache and run's, side by side`,
    );
  }
});
