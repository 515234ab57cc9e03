/**
 * Golden transcripts: what `lockrepro run <name> --no-color` prints for each built-in scenario on
 * each target, kept in test/golden/<target>/<name>.txt the way PostgreSQL's isolation tests keep
 * expected/ files. test/integration/library.test.ts compares against them; `npm run golden`
 * (test/golden/regenerate.ts) writes them. test/golden/README.md explains both.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { EngineName } from '../../src/vocabulary.js';
import { redactUrl } from '../../src/util/redact.js';
import { lockrepro, type CliResult } from './cli.js';
import { mysqlUnreachableReason } from './mysql.js';
import { MYSQL_URL, PG_URL, pgUnreachableReason, sqliteUnreachableReason } from './servers.js';

export const GOLDEN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../golden');

export interface GoldenTarget {
  /** Its folder under test/golden/, and what `npm run golden -- --target` takes. */
  name: string;
  label: string;
  engine: EngineName;
  /** undefined: the embedded PostgreSQL (no --db). */
  url: string | undefined;
  /** More flags of its command, after --db. */
  args?: readonly string[];
  /** null when the server answers, else why not. The embedded server is always tried. */
  unreachable(): Promise<string | null>;
}

export const GOLDEN_TARGETS: readonly GoldenTarget[] = [
  { name: 'embedded-postgres', label: 'embedded PostgreSQL', engine: 'postgres', url: undefined, unreachable: async () => null },
  { name: 'postgres-15', label: 'PostgreSQL 15 by URL', engine: 'postgres', url: PG_URL, unreachable: () => pgUnreachableReason(PG_URL) },
  // The same server with a scratch schema in the URL's database instead of a scratch database:
  // the transcripts must be postgres-15's but for the header's note (library.test.ts checks).
  {
    name: 'postgres-15-schema',
    label: 'PostgreSQL 15 by URL, --scratch schema',
    engine: 'postgres',
    url: PG_URL,
    args: ['--scratch', 'schema'],
    unreachable: () => pgUnreachableReason(PG_URL),
  },
  {
    name: 'mariadb-10.11',
    label: 'MariaDB 10.11 by URL',
    engine: 'mariadb',
    url: MYSQL_URL,
    unreachable: () => mysqlUnreachableReason(MYSQL_URL),
  },
  // No server: a file per variant, so these run everywhere.
  {
    name: 'sqlite',
    label: 'SQLite (rollback journal)',
    engine: 'sqlite',
    url: 'sqlite:',
    unreachable: async () => sqliteUnreachableReason(),
  },
  {
    name: 'sqlite-wal',
    label: 'SQLite in WAL mode',
    engine: 'sqlite',
    url: 'sqlite:?journal=wal',
    unreachable: async () => sqliteUnreachableReason(),
  },
];

export function goldenFile(target: GoldenTarget, scenario: string): string {
  return path.join(GOLDEN_DIR, target.name, `${scenario}.txt`);
}

/** The golden file's text, or null when there is none. */
export function readGolden(target: GoldenTarget, scenario: string): string | null {
  try {
    return readFileSync(goldenFile(target, scenario), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function runArgs(target: GoldenTarget, scenario: string): string[] {
  return ['run', scenario, '--no-color', ...(target.url === undefined ? [] : ['--db', target.url]), ...(target.args ?? [])];
}

/** The command whose stdout the golden file is, for messages (password hidden). */
export function goldenCommand(target: GoldenTarget, scenario: string): string {
  return ['lockrepro', ...runArgs(target, scenario).map((a) => (a === target.url ? redactUrl(a) : a))].join(' ');
}

export function regenerateCommand(target: GoldenTarget, scenario?: string): string {
  return `npm run golden -- --target ${target.name}${scenario ? ` ${scenario}` : ''}`;
}

/** Run the built CLI (bin/lockrepro.js) exactly as the golden file's command: how it is made. */
export function runGolden(target: GoldenTarget, scenario: string): CliResult {
  return lockrepro(runArgs(target, scenario));
}

/**
 * The same command through the CLI's own `main()`, in this process: what bin/lockrepro.js calls
 * with the same arguments, minus its signal handling. The test uses it because a new Node process
 * per scenario cost 1–2 s each on the busy 2-core machine (module loading). A difference between
 * the two would show as a mismatch with the files, which the binary writes. `extra` flags must not
 * change stdout (the test adds `--junit <file>` to read each variant's verdict from the same run).
 */
export async function runGoldenInProcess(target: GoldenTarget, scenario: string, extra: readonly string[] = []): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await main([...runArgs(target, scenario), ...extra], {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    env: { ...process.env, LOCKREPRO_DB: '' },
    isTTY: false,
  });
  return { code, stdout, stderr };
}

/**
 * The one normalisation: on a server reached by URL, the last component of the version in the
 * header line (`database: postgres 15.20 (…)` → `15.x`, `mariadb 10.11.19` → `10.11.x`), so a
 * point release of the distribution's package does not fail CI. The major version, and everything
 * else, must match. The embedded server's version is fixed by package-lock.json and not normalised.
 */
export function normalise(target: GoldenTarget, text: string): string {
  return target.url === undefined ? text : text.replace(/^(database: \S+ \d+(?:\.\d+)*?)\.\d+(?= )/, '$1.x');
}

/** `<testcase name>` and its `<failure message>` (if any), in order, from lockrepro's JUnit XML. */
export function junitCases(xml: string): { name: string; failure: string | null }[] {
  const unescapeXml = (s: string) =>
    s
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  return [...xml.matchAll(/<testcase [^>]*? name="([^"]*)"[^>]*>(?:<failure message="([^"]*)")?/g)].map((m) => ({
    name: unescapeXml(m[1]!),
    failure: m[2] === undefined ? null : unescapeXml(m[2]),
  }));
}
