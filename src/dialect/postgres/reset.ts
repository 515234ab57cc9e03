/**
 * Reset a PostgreSQL scratch database to what it was when created, in a few milliseconds instead
 * of CREATE DATABASE's ~100 (which copies the template and syncs it to disk): every schema is
 * dropped with all it holds, `public` is made again as it was, and the admin session's own state
 * is discarded. Then a fingerprint of everything a run could have left behind is compared with the
 * one taken when the database was new; when they differ (the scenario made something a schema does
 * not hold, such as a cast, a language, a foreign-data wrapper, a publication or a database
 * setting), the reset says so and the caller makes a new database instead. So a reset scratch is
 * vouched for by the catalog, not assumed.
 */
import type pg from 'pg';
import { run } from './client.js';

/** Objects with an OID below this come with the server (initdb); ours are above it. */
const FIRST_USER_OID = 16384;

/** Catalogs whose rows a scenario can create, keyed by their namespace column where they have one. */
const CATALOGS: readonly (readonly [string, string | null])[] = [
  ['pg_class', 'relnamespace'],
  ['pg_type', 'typnamespace'],
  ['pg_proc', 'pronamespace'],
  ['pg_collation', null],
  ['pg_conversion', null],
  ['pg_operator', null],
  ['pg_opfamily', null],
  ['pg_opclass', null],
  ['pg_am', null],
  ['pg_cast', null],
  ['pg_language', null],
  ['pg_extension', null],
  ['pg_foreign_data_wrapper', null],
  ['pg_foreign_server', null],
  ['pg_event_trigger', null],
  ['pg_publication', null],
  ['pg_default_acl', null],
  ['pg_statistic_ext', null],
  ['pg_transform', null],
  ['pg_ts_config', null],
  ['pg_ts_dict', null],
  ['pg_ts_parser', null],
  ['pg_ts_template', null],
  ['pg_largeobject_metadata', null],
];

/** Temporary schemas: what is in them belongs to a session, and every session of the run is gone. */
const TEMP = "nspname LIKE 'pg\\_temp\\_%' OR nspname LIKE 'pg\\_toast\\_temp\\_%'";

const parts = [
  ...CATALOGS.map(
    ([cat, ns]) =>
      `(SELECT coalesce(string_agg(oid::text, ',' ORDER BY oid), '') FROM ${cat} WHERE oid >= ${FIRST_USER_OID}${
        ns ? ` AND ${ns} NOT IN (SELECT oid FROM pg_namespace WHERE ${TEMP})` : ''
      })`,
  ),
  `(SELECT coalesce(string_agg(oid::text, ',' ORDER BY oid), '') FROM pg_namespace WHERE oid >= ${FIRST_USER_OID} AND nspname <> 'public' AND NOT (${TEMP}))`,
  // public as it was: owner and privileges (it is dropped and made again).
  "(SELECT coalesce(nspowner::regrole::text || ' ' || coalesce(nspacl::text, ''), 'none') FROM pg_namespace WHERE nspname = 'public')",
  // The database's own settings and privileges (ALTER DATABASE).
  '(SELECT count(*)::text FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database())',
  "(SELECT coalesce(datacl::text, '') || datconnlimit || datallowconn FROM pg_database WHERE datname = current_database())",
  // Transactions prepared for two-phase commit hold their locks across sessions.
  '(SELECT count(*)::text FROM pg_prepared_xacts WHERE database = current_database())',
  // The admin session itself: what a reset must have discarded.
  '(SELECT count(*)::text FROM pg_prepared_statements)',
  '(SELECT count(*)::text FROM pg_cursors)',
  "(SELECT count(*)::text FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory')",
  "(SELECT count(*)::text FROM pg_settings WHERE source = 'session')",
];
const FINGERPRINT = `SELECT ${parts.join(" || '|' || ")} AS f`;

/** Everything a reset compares, as one string; taken on the admin connection when the database is new. */
export async function fingerprint(admin: pg.Client): Promise<string> {
  return String((await run(admin, FINGERPRINT)).rows[0]!.f);
}

/**
 * Reset the database through its admin connection, the only one left open (worker sessions are
 * closed after every run). Resolves whether the result matches `baseline`.
 */
export async function resetDatabase(admin: pg.Client, baseline: string): Promise<boolean> {
  // A setup or check may have left a transaction open (a harmless warning when none is).
  await run(admin, 'ROLLBACK');
  const plan = await run(
    admin,
    `SELECT (SELECT string_agg(format('DROP SCHEMA %I CASCADE', nspname), '; ') FROM pg_namespace
              WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND NOT (${TEMP})) AS drops,
            (SELECT format('CREATE SCHEMA public AUTHORIZATION %s', nspowner::regrole) FROM pg_namespace WHERE nspname = 'public') AS create_public,
            (SELECT string_agg(format('GRANT %s ON SCHEMA public TO %s', a.privilege_type,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END), '; ')
               FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'public' AND a.grantee <> n.nspowner) AS grants`,
  );
  const { drops, create_public, grants } = plan.rows[0] as Record<string, string | null>;
  if (!create_public) return false; // no public schema to make again as it was: a new database is simpler
  const sql = [
    // DISCARD ALL, which may not run in this one-round-trip batch, less pg_advisory_unlock_all: an
    // advisory lock the scenario left held shows in the fingerprint, and the reset refuses.
    'SET SESSION AUTHORIZATION DEFAULT',
    'RESET ALL',
    'CLOSE ALL',
    'DEALLOCATE ALL',
    'UNLISTEN *',
    'DISCARD TEMP',
    'DISCARD SEQUENCES',
    'DISCARD PLANS',
    drops,
    create_public,
    grants,
  ].filter((s): s is string => !!s);
  await run(admin, sql.join('; '));
  return (await fingerprint(admin)) === baseline;
}
