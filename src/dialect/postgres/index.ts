/**
 * The PostgreSQL dialect, on node-postgres: connect, say what the server is and allows, create
 * scratch databases (scratch.ts), and close.
 */
import type { DatabaseInfo, Dialect, Scratch } from '../../engine/dialect.js';
import { oneAtATime, openClient, quoteIdent, run, trySet } from './client.js';
import { DEADLOCK_TIMEOUT_CLOSER_MS, DEADLOCK_TIMEOUT_STAGGER_MS } from './deadlock-timeout.js';
import { PostgresScratch } from './scratch.js';
import { scratchName } from '../scratch-name.js';
import type pg from 'pg';

export interface PostgresOptions {
  /** Set when lockrepro started the server; called by close(). */
  embedded?: { stop(): Promise<void> };
}

export async function connectPostgres(url: string, opts: PostgresOptions = {}): Promise<Dialect> {
  // The URL's password is already known to scrub(): connectDatabase registers it for every engine.
  const admin = oneAtATime(await openClient(url, 'lockrepro'));
  try {
    const version = String((await admin.query('SHOW server_version')).rows[0].server_version).split(' ')[0]!;
    // An ordinary role may neither SET nor RESET deadlock_timeout (context superuser).
    const canLower = await trySet(admin, `SET deadlock_timeout = '${DEADLOCK_TIMEOUT_CLOSER_MS}ms'`);
    if (canLower) await admin.query('RESET deadlock_timeout');
    const serverDefault = String((await admin.query('SHOW deadlock_timeout')).rows[0].deadlock_timeout);
    const info: DatabaseInfo = {
      dialect: 'postgres',
      version,
      embedded: opts.embedded !== undefined,
      // PostgreSQL's MVCC never shows uncommitted rows: READ UNCOMMITTED is READ COMMITTED.
      runsAs: { 'read-uncommitted': 'read-committed' },
      settings: {
        deadlock_timeout: canLower
          ? `${DEADLOCK_TIMEOUT_CLOSER_MS}ms + ${DEADLOCK_TIMEOUT_STAGGER_MS}ms per other worker not waiting (set by lockrepro: the closer of a cycle is the victim)`
          : `${serverDefault} (server setting; this role may not lower it)`,
      },
    };
    // The embedded cluster belongs to this run alone, so scratch databases in it are leftovers
    // of a run that was killed before it could drop them.
    if (opts.embedded) await dropLeftovers(admin);
    return new PostgresDialect(url, admin, info, canLower, opts.embedded);
  } catch (e) {
    await admin.end().catch(() => undefined);
    throw e;
  }
}

async function dropLeftovers(admin: pg.Client): Promise<void> {
  const left = await run(admin, "SELECT datname FROM pg_database WHERE datname LIKE 'lockrepro\\_%'");
  for (const r of left.rows) await run(admin, `DROP DATABASE IF EXISTS ${quoteIdent(String(r.datname))} WITH (FORCE)`);
}

class PostgresDialect implements Dialect {
  private readonly scratches = new Set<PostgresScratch>();

  constructor(
    private readonly url: string,
    private readonly admin: pg.Client,
    readonly info: DatabaseInfo,
    private readonly canLowerDeadlockTimeout: boolean,
    private readonly embedded?: { stop(): Promise<void> },
  ) {}

  placeholder(n: number): string {
    return `$${n}`;
  }

  async createScratch(label: string): Promise<Scratch> {
    const name = scratchName(label);
    await run(this.admin, `CREATE DATABASE ${quoteIdent(name)}`);
    const url = new URL(this.url);
    url.pathname = `/${name}`;
    let client: pg.Client | undefined;
    let monitorPid: number;
    try {
      client = await openClient(url.toString(), 'lockrepro-monitor');
      monitorPid = Number((await run(client, 'SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    } catch (e) {
      await client?.end().catch(() => undefined);
      await run(this.admin, `DROP DATABASE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
      throw e;
    }
    const scratch = new PostgresScratch(name, url.toString(), client, monitorPid, this.admin, this.canLowerDeadlockTimeout, async () => {
      this.scratches.delete(scratch);
      // WITH (FORCE) (PostgreSQL 13+) ends sessions still connected; older servers get them
      // terminated first.
      await run(this.admin, `DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(async () => {
        await run(this.admin, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
        await run(this.admin, `DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
      });
    });
    this.scratches.add(scratch);
    // Without its fingerprint the scratch is simply not reset (a new one is made each run).
    await scratch.markNew().catch(() => undefined);
    return scratch;
  }

  async close(): Promise<void> {
    for (const s of [...this.scratches]) await s.drop().catch(() => undefined);
    await this.admin.end().catch(() => undefined);
    await this.embedded?.stop();
  }
}
