/**
 * MySQL/MariaDB dialect pieces that need no server: URLs, scratch names, GET_LOCK names, the
 * MySQL 8 metadata-lock matrix.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BadDatabaseUrl } from '../../src/errors.js';
import { getLockNames } from '../../src/dialect/mysql/get-lock.js';
import { mdlConflicts } from '../../src/dialect/mysql/performance-schema.js';
import { scratchName } from '../../src/dialect/scratch-name.js';
import { parseMysqlUrl } from '../../src/dialect/mysql/url.js';

describe('mysql dialect: parsers (no server needed)', () => {
  test('URL: schemes, defaults, decoded password', () => {
    const t = parseMysqlUrl('mariadb://app:p%40ss%2Fw%3Ard@db.example:3307/shop');
    assert.deepEqual(
      { host: t.host, port: t.port, user: t.user, password: t.password, database: t.database },
      { host: 'db.example', port: 3307, user: 'app', password: 'p@ss/w:rd', database: 'shop' },
    );
    assert.ok(!t.display.includes('p%40ss') && t.display.includes('***'), t.display);
    const d = parseMysqlUrl('mysql://root@127.0.0.1');
    assert.equal(d.port, 3306);
    assert.equal(d.database, undefined);
    assert.equal(parseMysqlUrl('mysql://root@[::1]:3306/x').host, '::1');
    assert.throws(() => parseMysqlUrl('mysql://root@h/x?ssl=true'), BadDatabaseUrl);
  });

  test('scratch names: [a-z0-9_], short, at most 64 characters', () => {
    assert.match(scratchName('AB/BA deadlock — Ünïcode!'), /^lockrepro_ab_ba_deadlock_unicode_[0-9a-f]{8}$/);
    const long = scratchName('x'.repeat(300));
    assert.ok(long.length <= 64, long);
    assert.match(scratchName(''), /^lockrepro_[0-9a-f]{8}$/);
  });

  test('GET_LOCK names: literals and bound parameters, never guessed', () => {
    assert.deepEqual(getLockNames("SELECT GET_LOCK('a''b', 10)", []), ["a'b"]);
    assert.deepEqual(getLockNames('SELECT ?, get_lock ( ? , 5) AS g', ['x', 'lk']), ['lk']);
    assert.deepEqual(getLockNames("SELECT '?', GET_LOCK(?, 5) -- GET_LOCK('no', 1)", ['lk']), ['lk']);
    assert.deepEqual(getLockNames("SELECT GET_LOCK(CONCAT('a', ?), 5)", ['b']), []);
    assert.deepEqual(getLockNames('SELECT MY_GET_LOCK(?, 1)', ['z']), []);
  });

  test('metadata lock compatibility (MySQL 8 path)', () => {
    assert.equal(mdlConflicts('SHARED_READ', 'SHARED_NO_READ_WRITE'), true); // SELECT vs LOCK TABLES ... WRITE
    assert.equal(mdlConflicts('SHARED_READ', 'SHARED_WRITE'), false);
    assert.equal(mdlConflicts('EXCLUSIVE', 'SHARED_READ'), true);
    assert.equal(mdlConflicts('SHARED_WRITE', 'SHARED_READ_ONLY'), true);
  });
});
