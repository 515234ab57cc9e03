// How a check's expectation meets what its SQL returned (no database).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareCheck } from '../../src/detect/compare.js';

const rows = [
  { id: 1, balance: 999 },
  { id: 2, balance: 100 },
];
const columns = ['id', 'balance'];

test('an expected row must name exactly the columns the query returns', () => {
  // The case from the trust issue: a misspelt column once made this pass.
  const r = compareCheck([{ id: 1 }, { id: 2, balanse: null }], rows, columns);
  assert.equal(r.passed, false);
  assert.equal(r.error, 'expected row 1 lacks "balance" (the query returns "id", "balance")');
  const typo = compareCheck(
    [
      { id: 1, balance: 999 },
      { id: 2, balanse: 100 },
    ],
    rows,
    columns,
  );
  assert.equal(
    typo.error,
    'expected row 2 names "balanse", which the query does not return and lacks "balance" (the query returns "id", "balance")',
  );
  const extra = compareCheck(
    [
      { id: 1, balance: 999, owner: 'a' },
      { id: 2, balance: 100 },
    ],
    rows,
    columns,
  );
  assert.match(extra.error!, /^expected row 1 names "owner", which the query does not return \(/);
});

test('rows with exactly the returned columns compare by value, in order', () => {
  assert.deepEqual(
    compareCheck(
      [
        { id: 1, balance: 999 },
        { id: 2, balance: 100 },
      ],
      rows,
      columns,
    ),
    { passed: true, actual: rows },
  );
  const wrong = compareCheck(
    [
      { id: 1, balance: 100 },
      { id: 2, balance: 100 },
    ],
    rows,
    columns,
  );
  assert.equal(wrong.passed, false);
  assert.equal(wrong.error, undefined);
  assert.equal(compareCheck([{ id: 1, balance: 999 }], rows, columns).passed, false);
});

test('a date is compared as the text the database gave', () => {
  assert.equal(compareCheck('2008-12-22', [{ d: '2008-12-22' }], ['d']).passed, true);
  assert.equal(compareCheck('2008-12-22', [{ d: '2008-12-21' }], ['d']).passed, false);
});
