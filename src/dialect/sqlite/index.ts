/**
 * The SQLite dialect, on better-sqlite3: `--db sqlite:` (rollback journal, SQLite's default) or
 * `--db sqlite:?journal=wal`. No server: each variant gets its own database file in a temporary
 * folder that lockrepro creates and removes.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { abandoned, ownedName } from '../../util/owners.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseInfo, Dialect, Scratch } from '../../engine/dialect.js';
import { BadDatabaseUrl, DatabaseUnavailableError } from '../../errors.js';
import { scratchName } from '../scratch-name.js';
import { loadDriver, openDb } from './driver.js';
import { SqliteScratch } from './scratch.js';
import { STRESS_BUSY_TIMEOUT_MS } from './thread-session.js';

const JOURNALS = ['delete', 'wal'] as const;

/** `sqlite:` or `sqlite:?journal=wal|delete`; nothing else, since the database files are lockrepro's own. */
export function parseSqliteUrl(url: string): { wal: boolean } {
  const u = new URL(url);
  const keys = [...u.searchParams.keys()];
  const journal = (u.searchParams.get('journal') ?? 'delete').toLowerCase();
  if (u.host !== '' || u.pathname !== '' || keys.some((k) => k !== 'journal') || !(JOURNALS as readonly string[]).includes(journal)) {
    throw new BadDatabaseUrl(
      `--db ${url}: expected sqlite: or sqlite:?journal=wal (each variant runs in its own temporary database file; journal is ${JOURNALS.join(' or ')})`,
    );
  }
  return { wal: journal === 'wal' };
}

export async function connectSqlite(url: string): Promise<Dialect> {
  const { wal } = parseSqliteUrl(url);
  try {
    loadDriver();
  } catch (e) {
    throw new DatabaseUnavailableError(
      `SQLite: the better-sqlite3 module did not load (${(e as Error).message.split('\n')[0]}); run npm rebuild better-sqlite3 (it builds with python3, make and a C++ compiler)`,
    );
  }
  sweepDeadRuns(tmpdir());
  const dir = join(tmpdir(), ownedName(FOLDER_PREFIX));
  mkdirSync(dir, { mode: 0o700 });
  const probe = openDb(':memory:');
  const version = String((probe.prepare('SELECT sqlite_version() AS v').all()[0] as { v: unknown }).v);
  probe.close();
  const info: DatabaseInfo = {
    dialect: 'sqlite',
    version,
    embedded: false,
    // One writer at a time and no isolation levels: every transaction is serializable.
    runsAs: { 'read-uncommitted': 'serializable', 'read-committed': 'serializable', 'repeatable-read': 'serializable' },
    settings: {
      journal_mode: wal ? 'wal' : 'delete',
      busy_timeout: `modelled (a waiting step retries after every other step; when all wait, the first waiter times out); ${STRESS_BUSY_TIMEOUT_MS} ms with --stress`,
    },
  };
  return new SqliteDialect(dir, wal, info);
}

/** A run's folder of database files: an owned name (util/owners.ts) in the temp folder. */
const FOLDER_PREFIX = 'lockrepro-sqlite';

/**
 * Remove the folders of runs whose process is gone (killed before it could clean up), as a
 * later run does for a server's scratch databases; never one whose owner lives.
 */
export function sweepDeadRuns(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) if (abandoned(name) === FOLDER_PREFIX) rmSync(join(parent, name), { recursive: true, force: true });
}

class SqliteDialect implements Dialect {
  private readonly scratches = new Set<SqliteScratch>();

  constructor(
    private readonly dir: string,
    private readonly wal: boolean,
    readonly info: DatabaseInfo,
  ) {}

  placeholder(_n: number): string {
    return '?';
  }

  async createScratch(label: string): Promise<Scratch> {
    const name = scratchName(label);
    const scratch: SqliteScratch = new SqliteScratch(name, join(this.dir, `${name}.db`), this.wal, () => this.scratches.delete(scratch));
    this.scratches.add(scratch);
    return scratch;
  }

  async close(): Promise<void> {
    for (const s of [...this.scratches]) await s.drop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
