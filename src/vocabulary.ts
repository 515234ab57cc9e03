/**
 * The words every layer shares: engines, isolation levels, error kinds. At the bottom of the
 * import graph (it imports nothing), so a scenario can name an isolation level without knowing the
 * engine, and the runtime checks and the types come from the same `as const` lists.
 */

/**
 * Isolation levels lockrepro knows, in the spelling scenario files and the CLI use. PostgreSQL
 * accepts read uncommitted but runs it as read committed (its MVCC never shows uncommitted rows).
 */
export const ISOLATION_LEVELS = ['read-uncommitted', 'read-committed', 'repeatable-read', 'serializable'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/** The SQL standard's spelling of each level, which every supported engine accepts. */
export const ISOLATION_SQL: Record<IsolationLevel, string> = {
  'read-uncommitted': 'READ UNCOMMITTED',
  'read-committed': 'READ COMMITTED',
  'repeatable-read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
};

/** Engine names as reported in `database.dialect` and as keys of per-engine SQL. */
export const ENGINES = ['postgres', 'mysql', 'mariadb', 'sqlite'] as const;
export type EngineName = (typeof ENGINES)[number];

/**
 * Where a run's setup goes (`--scratch`): a database it creates (every engine), or on PostgreSQL a
 * schema it creates in the database the URL names: ~2 ms against CREATE DATABASE's 30–150 ms, and
 * no CREATEDB privilege needed, but the run then lives inside that database (see docs/databases.md).
 */
export const SCRATCH_KINDS = ['database', 'schema'] as const;
export type ScratchKind = (typeof SCRATCH_KINDS)[number];

/** Error kinds of the JSON contract (`steps[].error.kind`). */
export const ERROR_KINDS = ['deadlock', 'serialization', 'unique-violation', 'lock-timeout', 'timeout', 'other'] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/**
 * Facts about each engine's SQL text that need no connection. `keys`: the per-engine keys of a
 * scenario that apply to it, most specific first (MariaDB takes MySQL's SQL unless it has its
 * own). `backslashEscapes`: `\\` escapes in '…' and "…" strings (MySQL, MariaDB); PostgreSQL has
 * them only in E'…'. `mysqlLexis`: `#` comments, `-- ` comments only with a space after, "…" a
 * string; otherwise (PostgreSQL, SQLite) "…" names an identifier and $tag$…$tag$ is a string
 * (SQLite has no dollar quotes; a scenario's SQLite text does not use them).
 */
export const ENGINE_SQL: Record<
  EngineName,
  { readonly keys: readonly EngineName[]; readonly backslashEscapes: boolean; readonly mysqlLexis: boolean }
> = {
  postgres: { keys: ['postgres'], backslashEscapes: false, mysqlLexis: false },
  mysql: { keys: ['mysql'], backslashEscapes: true, mysqlLexis: true },
  mariadb: { keys: ['mariadb', 'mysql'], backslashEscapes: true, mysqlLexis: true },
  sqlite: { keys: ['sqlite'], backslashEscapes: false, mysqlLexis: false },
};

/**
 * Engines where every writer takes the same one write lock, for the whole database file (SQLite):
 * there, two writes wait for each other whatever tables they name.
 */
export const ONE_WRITE_LOCK: Record<EngineName, boolean> = { postgres: false, mysql: false, mariadb: false, sqlite: true };

/**
 * What a waiting step waits for (`steps[].lock.kind` of the JSON contract): a row, a key range
 * (gap / next-key / insert intention), a table, a metadata lock, an advisory lock (pg_advisory_lock,
 * GET_LOCK), the end of another transaction, or something else the engine locks.
 */
export const LOCK_KINDS = ['row', 'key-range', 'table', 'metadata', 'advisory', 'transaction', 'other'] as const;
export type LockKind = (typeof LOCK_KINDS)[number];
