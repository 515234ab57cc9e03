/**
 * Result values as the server's own text (src/dialect/mysql/values.ts), on the shapes mysql2
 * gives them with lockrepro's connection options: text protocol and binary protocol alike. The
 * integration test (mysql-dialect.test.ts) checks the same against MariaDB, in far time zones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numberIfExact, serverValue, serverValues } from '../../src/dialect/mysql/values.js';

// Protocol column types and the decimals MariaDB sends (31 = not fixed, for FLOAT and DOUBLE).
const col = (columnType: number, decimals = 0, name = 'v') => ({ name, columnType, type: columnType, decimals });
const DECIMAL = 246,
  LONGLONG = 8,
  DATETIME = 12,
  TIMESTAMP = 7,
  TIME = 11,
  DATE = 10,
  FLOAT = 4,
  DOUBLE = 5,
  TINY = 1,
  BLOB = 252,
  JSON_TYPE = 245;

test('DECIMAL and BIGINT: a number only when that loses nothing, as on PostgreSQL', () => {
  assert.equal(serverValue('200', col(DECIMAL), false), 200, 'SUM() of integers');
  assert.equal(serverValue('10.5', col(DECIMAL, 1), false), 10.5);
  assert.equal(serverValue('10.50', col(DECIMAL, 2), false), '10.50');
  assert.equal(serverValue('12345678901234567890.1234567890', col(DECIMAL, 10), true), '12345678901234567890.1234567890');
  assert.equal(serverValue('9007199254740993', col(LONGLONG), true), '9007199254740993');
  assert.equal(serverValue('-42', col(LONGLONG), false), -42);
  assert.deepEqual(['0', '-0', '1e3', '007'].map(numberIfExact), [0, '-0', '1e3', '007']);
});

test('dates and times: the text, with the fraction the column declares (binary protocol drops zeros)', () => {
  assert.equal(serverValue('2008-12-22', col(DATE), true), '2008-12-22');
  assert.equal(serverValue('2008-12-22 10:20:30', col(DATETIME, 3), true), '2008-12-22 10:20:30.000');
  assert.equal(serverValue('2008-12-22 10:20:30.120', col(DATETIME, 3), true), '2008-12-22 10:20:30.120');
  assert.equal(serverValue('2008-12-22 23:59:59', col(TIMESTAMP, 2), true), '2008-12-22 23:59:59.00');
  assert.equal(serverValue('0000-00-00 00:00:00', col(DATETIME, 0), true), '0000-00-00 00:00:00');
  assert.equal(serverValue('10:00:00.5', col(TIME, 3), true), '10:00:00.500');
  assert.equal(serverValue('-00:00:01.5', col(TIME, 2), true), '-00:00:01.50');
  assert.equal(serverValue('-838:59:59', col(TIME, 0), true), '-838:59:59');
  assert.equal(serverValue('00:00:00', col(TIME, 2), true), '00:00:00.00');
  // The text protocol already carries the server's text: left alone.
  assert.equal(serverValue('2008-12-22 10:20:30.000', col(DATETIME, 3), false), '2008-12-22 10:20:30.000');
  // A fraction that is not fixed (NOT_FIXED_DEC): as the server sent it.
  assert.equal(serverValue('10:00:00.250000', col(TIME, 39), true), '10:00:00.250000');
});

test("FLOAT by the binary protocol: the server text's digits, not the 4-byte float", () => {
  assert.equal(serverValue(Math.fround(0.1), col(FLOAT, 31), true), 0.1);
  assert.equal(serverValue(1234567, col(FLOAT, 31), true), 1234570, 'MariaDB prints 6 significant digits');
  // biome-ignore lint/suspicious/noApproximativeNumericConstant: 3.14159 is what the server prints for a FLOAT, which is the point
  assert.equal(serverValue(Math.fround(3.14159265), col(FLOAT, 31), true), 3.14159);
  assert.equal(serverValue(1.5, col(FLOAT, 3), true), 1.5);
  assert.equal(serverValue(0.1, col(FLOAT, 31), false), 0.1, 'text protocol: already the server text');
  assert.equal(serverValue(0.30000000000000004, col(DOUBLE, 31), true), 0.30000000000000004);
});

test('bytes as 0x and upper-case hex; JSON, booleans and text as they come', () => {
  assert.equal(serverValue(Buffer.from([0, 255, 16]), col(BLOB), false), '0x00FF10');
  assert.equal(serverValue(Buffer.alloc(0), col(BLOB), true), '0x');
  assert.equal(serverValue('{"a": [1, 2.50]}', col(JSON_TYPE), false), '{"a": [1, 2.50]}');
  assert.equal(serverValue(1, col(TINY), true), 1);
  assert.equal(serverValue(null, col(DATETIME, 3), true), null);
});

test('rows: by column name; the last of two columns with one name wins, as in mysql2', () => {
  const rows = serverValues([{ a: '10.50', b: Buffer.from('hi') }], [col(DECIMAL, 2, 'a'), col(BLOB, 0, 'b')], false);
  assert.deepEqual(rows, [{ a: '10.50', b: '0x6869' }]);
  assert.deepEqual(serverValues([{ a: '7' }], [col(BLOB, 0, 'a'), col(LONGLONG, 0, 'a')], false), [{ a: 7 }]);
});
