/**
 * `lockrepro matrix` as a Hermitage-style table (rows: scenarios; columns: database × isolation
 * level; cells: what showed) and as the JSON of the contract (design.md, wave 2). Pure functions
 * of the cells: no database.
 */
import { Chalk } from 'chalk';
import Table from 'cli-table3';
import type { DatabaseInfo } from '../engine/dialect.js';
import type { MatrixCell } from '../modes/matrix.js';
import type { IsolationLevel } from '../vocabulary.js';

export interface MatrixJsonOptions {
  /** Why the command as a whole failed (a scenario's own SQL: exit 2): the contract's error object. */
  error?: { kind: string; message: string; problems: readonly { file: string; line: number; message: string }[] };
}

/**
 * `{ lockrepro: 1, matrix: [{ scenario, dialect, version, isolation, observed }] }`, plus `ok`,
 * `databases`, and per cell `file`, `embedded`, `runsAs`, `status`, `skipped` and `error`.
 * `observed` is null where nothing could be observed (n/a, error), so it never reads as clean.
 */
export function matrixJson(databases: readonly DatabaseInfo[], cells: readonly MatrixCell[], opts: MatrixJsonOptions = {}): unknown {
  return {
    lockrepro: 1,
    ok: !opts.error,
    ...(opts.error ? { error: opts.error } : {}),
    databases: databases.map((d) => ({ dialect: d.dialect, version: d.version, embedded: d.embedded })),
    matrix: cells.map((c) => ({
      scenario: c.scenario.name,
      file: c.scenario.file,
      dialect: c.database.dialect,
      version: c.database.version,
      embedded: c.database.embedded,
      isolation: c.isolation,
      ...(c.runsAs ? { runsAs: c.runsAs } : {}),
      status: c.status,
      observed: c.status === 'ran' ? [...c.observed] : null,
      ...(c.errorCodes.length > 0 ? { errorCodes: [...c.errorCodes] } : {}),
      ...(c.reason ? { skipped: c.reason } : {}),
      ...(c.error ? { error: { kind: 'scenario-sql', ...c.error } } : {}),
    })),
  };
}

export interface MatrixTextOptions {
  color?: boolean;
}

/** The table, then a line for each level an engine runs as another, and for each failed cell. */
export function matrixText(databases: readonly DatabaseInfo[], cells: readonly MatrixCell[], opts: MatrixTextOptions = {}): string {
  const c = new Chalk({ level: opts.color ? 1 : 0 });
  const levels = unique(cells.map((x) => x.isolation));
  const scenarios = unique(cells.map((x) => x.scenario));
  const headers = databases.flatMap((d) => levels.map((l) => levelLabel(l, d.runsAs?.[l])));
  const texts = scenarios.map((sc) =>
    databases.flatMap((d) =>
      levels.map((l) => {
        const cell = cells.find((x) => x.scenario === sc && x.database === d && x.isolation === l);
        return cell ? cellText(cell, c) : '';
      }),
    ),
  );
  // Each level column as wide as its longest word, so headers wrap between words, never inside one.
  const widths = headers.map(
    (h, i) => Math.max(...[h, ...texts.map((t) => t[i]!)].flatMap((t) => stripAnsi(t).split(/\s+/)).map((w) => w.length)) + 2,
  );
  const first = Math.max('scenario'.length, ...scenarios.map((s) => s.name.length)) + 2;
  const table = new Table({ style: { head: [], border: [] }, wordWrap: true, colWidths: [first, ...widths] });
  table.push([
    { content: 'scenario', rowSpan: 2 },
    ...databases.map((d) => ({ content: databaseLabel(d), colSpan: levels.length, hAlign: 'center' as const })),
  ]);
  table.push(headers);
  for (const [i, sc] of scenarios.entries()) table.push([sc.name, ...texts[i]!]);
  const notes: string[] = [];
  for (const cell of cells) {
    const e = cell.error;
    if (e)
      notes.push(
        c.red(
          `✗ ${cell.scenario.name} at ${cell.isolation} on ${databaseLabel(cell.database)}: its own SQL failed at ${e.file}:${e.line}: ${e.message}`,
        ),
      );
  }
  const runsAs = databases.flatMap((d) =>
    levels.flatMap((l) => {
      const as = d.runsAs?.[l];
      return as ? [`${databaseLabel(d)} accepts ${l} and runs it as ${as}.`] : [];
    }),
  );
  notes.unshift(...runsAs);
  const na = unique(cells.filter((x) => x.status === 'n/a').map((x) => x.reason ?? ''));
  for (const r of na) notes.push(c.dim(`n/a: ${r}`));
  return `${table.toString()}\n${notes.map((n) => `${n}\n`).join('')}`;
}

function cellText(cell: MatrixCell, c: InstanceType<typeof Chalk>): string {
  if (cell.status === 'n/a') return c.dim('n/a');
  if (cell.status === 'error') return c.red(`SQL failed (${cell.error?.code})`);
  if (cell.observed.length === 0) return c.green('clean');
  // `error` alone says little: name the server's code(s) behind it.
  const codes = cell.errorCodes.length > 0 ? ` ${cell.errorCodes.join(' ')}` : '';
  return c.red(cell.observed.map((a) => (a === 'error' ? `error${codes}` : a)).join('\n'));
}

function databaseLabel(d: DatabaseInfo): string {
  return `${d.dialect} ${d.version}${d.embedded ? ' (embedded)' : ''}`;
}

function levelLabel(level: IsolationLevel, runsAs: IsolationLevel | undefined): string {
  const words = level.replace('-', ' ');
  return runsAs ? `${words} (runs as ${runsAs.replace('-', ' ')})` : words;
}

function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal colour codes are exactly what is removed here
  return s.replace(/\x1b\[[0-9;]*m/g, '');
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}
