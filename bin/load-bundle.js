// Loads dist/bundle/main.cjs (src/ and its dependencies in one CommonJS file, scripts/bundle.mjs)
// with V8's code cache: compiling the bundle was most of what `lockrepro check` spent beyond Node's
// own start. The cache is one file in the user's cache folder, named after the bundle (its path,
// size and mtime) and the V8 that made it (cachedDataVersionTag), so a rebuilt bundle or another
// Node never reads a stale one. A SHA-256 of its contents guards against a damaged file, which V8
// would not notice; V8 rejects what does not fit the source. A missing, damaged or rejected cache is
// written once the run is done, with what the run compiled by then. Every failure to read or write
// it is ignored (a read-only home, a full disk): the cache only ever saves time.
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

const BUNDLE = fileURLToPath(new URL('../dist/bundle/main.cjs', import.meta.url));

/** `$XDG_CACHE_HOME/lockrepro`, or `~/.cache/lockrepro` (XDG says to ignore a relative value): the embedded server's cache too. */
function lockreproCacheDir(env) {
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg?.startsWith('/') ? xdg : path.join(os.homedir(), '.cache'), 'lockrepro');
}

/** The folder of the code cache files. */
export function codeCacheDir(env = process.env) {
  return path.join(lockreproCacheDir(env), 'code-cache');
}

/** SHA-256, 32 bytes: the cache after it stays aligned as V8 wants it (no copy). */
const DIGEST = 32;
const digest = (data) => createHash('sha256').update(data).digest();

/** FNV-1a: a short, stable tag for the bundle's path. */
function pathTag(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * One cache per command: a cache holds what the run that wrote it had compiled, and an accepted
 * cache is never rewritten, so `run` after a `check` would otherwise start every time with only
 * what `check` compiled (measured: a run-made cache saves `run` another ~20 ms).
 */
const COMMANDS = new Set(['run', 'check', 'matrix', 'list', 'show', 'schema']);

/** The bundle's exports, and saveCodeCache() to call once the run is done. */
export function loadBundle(bundle = BUNDLE, env = process.env, command = process.argv[2]) {
  // Size and mtime from the file read: a bundle rebuilt meanwhile gets no cache under the old name.
  const fd = openSync(bundle, 'r');
  const { size, mtimeMs } = fstatSync(fd);
  // The build writes it in ASCII (scripts/bundle.mjs), which Latin-1 decodes fastest; a bundle
  // made otherwise is still read right.
  const bytes = readFileSync(fd);
  const source = isAscii(bytes) ? bytes.latin1Slice() : bytes.toString('utf8');
  closeSync(fd);
  const dir = codeCacheDir(env);
  const prefix = `main-${pathTag(bundle)}-`;
  const build = `${v8.cachedDataVersionTag().toString(16)}-${size}-${Math.trunc(mtimeMs)}`;
  const name = `${prefix}${build}-${COMMANDS.has(command) ? command : 'other'}.bin`;
  let cachedData;
  let corrupt = false;
  try {
    const file = readFileSync(path.join(dir, name));
    // V8 checks a code cache's header but not its contents (not in release builds): flipped bytes
    // in a good header abort the process. So the file starts with the SHA-256 of the rest.
    cachedData = file.subarray(DIGEST);
    corrupt = file.length <= DIGEST || !digest(cachedData).equals(file.subarray(0, DIGEST));
  } catch {}
  // The wrapper Node puts around a CommonJS module, so the bundle sees what require() would give it.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    cachedData: corrupt ? undefined : cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
  const exports = module.exports;
  // import() inside the script would fail once it comes from the cache (Node 20 loses the
  // script's import() callback then): the bundle calls this module's instead.
  exports.setPackageImporter((specifier) => import(specifier));
  const stale = cachedData === undefined || corrupt || script.cachedDataRejected;
  return {
    ...exports,
    saveCodeCache() {
      if (stale) save(dir, name, prefix, build, script, env);
    },
  };
}

/**
 * Write through a temporary file and rename, so a concurrent run reads the old file or the new,
 * never half of one; then delete this bundle's caches for other builds or Nodes (every command's).
 */
function save(dir, name, prefix, build, script, env) {
  const file = path.join(dir, name);
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  let fd;
  try {
    // lockrepro/ as the embedded server's cache makes it (cache.ts): as root, others may enter it
    // (the server runs as nobody). The code cache itself is private.
    mkdirSync(lockreproCacheDir(env), { recursive: true, mode: process.getuid?.() === 0 ? 0o711 : 0o700 });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Opened before the cache is serialised: a read-only folder costs no more than this.
    fd = openSync(tmp, 'wx', 0o600);
    const data = script.createCachedData();
    writeFileSync(fd, Buffer.concat([digest(data), data]));
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
    for (const f of readdirSync(dir))
      if (f.startsWith(prefix) && !f.startsWith(`${prefix}${build}-`) && !f.includes('.tmp-')) rmSync(path.join(dir, f), { force: true });
  } catch {
    try {
      if (fd !== undefined) closeSync(fd);
      rmSync(tmp, { force: true });
    } catch {}
  }
}
