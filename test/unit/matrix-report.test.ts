// `lockrepro matrix`'s table and JSON are pure functions of the cells: built here by hand, no database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseInfo } from '../../src/engine/dialect.js';
import type { MatrixCell } from '../../src/modes/matrix.js';
import { matrixJson, matrixText } from '../../src/report/matrix.js';
import { SIMPLE, scenarioFrom } from '../helpers/scenario.js';

const pg: DatabaseInfo = {
  dialect: 'postgres',
  version: '15.20',
  embedded: false,
  settings: {},
  runsAs: { 'read-uncommitted': 'read-committed' },
};
const maria: DatabaseInfo = { dialect: 'mariadb', version: '10.11.19', embedded: false, settings: {} };
const skew = scenarioFrom(SIMPLE.replace('name: simple', 'name: skew'), 'skew.yaml');
const pgOnly = scenarioFrom(SIMPLE.replace('name: simple', 'name: pg-only\nengines: [postgres]'), 'pg-only.yaml');

const cells: MatrixCell[] = [
  {
    scenario: skew,
    database: pg,
    isolation: 'read-uncommitted',
    runsAs: 'read-committed',
    status: 'ran',
    observed: ['invariant'],
    errorCodes: [],
  },
  { scenario: skew, database: pg, isolation: 'serializable', runsAs: null, status: 'ran', observed: [], errorCodes: [] },
  {
    scenario: pgOnly,
    database: pg,
    isolation: 'read-uncommitted',
    runsAs: 'read-committed',
    status: 'error',
    observed: [],
    errorCodes: [],
    error: { file: 'pg-only.yaml', line: 6, code: '42P01', message: 'a.begin: 42P01 relation "t" does not exist' },
  },
  {
    scenario: pgOnly,
    database: pg,
    isolation: 'serializable',
    runsAs: null,
    status: 'ran',
    observed: ['invariant', 'error'],
    errorCodes: ['1467'],
  },
  { scenario: skew, database: maria, isolation: 'read-uncommitted', runsAs: null, status: 'ran', observed: ['deadlock'], errorCodes: [] },
  { scenario: skew, database: maria, isolation: 'serializable', runsAs: null, status: 'ran', observed: ['deadlock'], errorCodes: [] },
  {
    scenario: pgOnly,
    database: maria,
    isolation: 'read-uncommitted',
    runsAs: null,
    status: 'n/a',
    observed: [],
    errorCodes: [],
    reason: 'pg-only supports postgres, not mariadb',
  },
  {
    scenario: pgOnly,
    database: maria,
    isolation: 'serializable',
    runsAs: null,
    status: 'n/a',
    observed: [],
    errorCodes: [],
    reason: 'pg-only supports postgres, not mariadb',
  },
];

test('matrix JSON: the contract fields on every cell; observed null where nothing could be observed', () => {
  const doc = matrixJson([pg, maria], cells) as { lockrepro: number; ok: boolean; matrix: Record<string, unknown>[] };
  assert.equal(doc.lockrepro, 1);
  assert.equal(doc.ok, true);
  assert.equal(doc.matrix.length, cells.length);
  for (const c of doc.matrix)
    for (const k of ['scenario', 'dialect', 'version', 'isolation', 'observed']) assert.ok(k in c, `${k} in ${JSON.stringify(c)}`);
  assert.deepEqual(
    doc.matrix.map((c) => c.observed),
    [['invariant'], [], null, ['invariant', 'error'], ['deadlock'], ['deadlock'], null, null],
  );
  assert.equal(doc.matrix[0]!.runsAs, 'read-committed');
  assert.ok(!('runsAs' in doc.matrix[1]!));
  assert.deepEqual(doc.matrix[3]!.errorCodes, ['1467']);
  assert.equal(doc.matrix[6]!.skipped, 'pg-only supports postgres, not mariadb');
  assert.deepEqual(doc.matrix[2]!.error, {
    kind: 'scenario-sql',
    file: 'pg-only.yaml',
    line: 6,
    code: '42P01',
    message: 'a.begin: 42P01 relation "t" does not exist',
  });
  const failed = matrixJson([pg], cells.slice(0, 4), { error: { kind: 'invalid-scenario', message: 'm', problems: [] } }) as {
    ok: boolean;
  };
  assert.equal(failed.ok, false);
});

test('matrix text: one row per scenario, a column per database and level, in order; runs-as, n/a and failures said', () => {
  const text = matrixText([pg, maria], cells);
  const rows = text.split('\n');
  const row = (name: string) =>
    rows
      .find((r) => r.startsWith(`│ ${name} `))!
      .split('│')
      .slice(1, -1)
      .map((c) => c.trim());
  assert.deepEqual(row('skew'), ['skew', 'invariant', 'clean', 'deadlock', 'deadlock']);
  assert.deepEqual(row('pg-only'), ['pg-only', 'SQL failed', 'invariant', 'n/a', 'n/a']);
  assert.match(text, /error 1467/);
  assert.match(text, /postgres 15\.20 .*mariadb 10\.11\.19/s);
  assert.match(text, /\(runs as/);
  assert.match(text, /^postgres 15\.20 accepts read-uncommitted and runs it as read-committed\.$/m);
  assert.match(text, /^✗ pg-only at read-uncommitted on postgres 15\.20: its own SQL failed at pg-only\.yaml:6: /m);
  assert.match(text, /^n\/a: pg-only supports postgres, not mariadb$/m);
  assert.ok(!text.includes('\x1b['), 'no colour unless asked');
  assert.ok(matrixText([pg, maria], cells, { color: true }).includes('\x1b['));
});
