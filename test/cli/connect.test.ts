// Ways to name a PostgreSQL server in --db that CI setups use: a unix socket, sslmode.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lockrepro, noStack } from '../helpers/cli.js';
import { pgGate } from '../helpers/servers.js';

const external = await pgGate();
const SOCKET_DIR = '/var/run/postgresql';
const socket = existsSync(`${SOCKET_DIR}/.s.PGSQL.5432`) ? false : `SKIPPED: no PostgreSQL socket in ${SOCKET_DIR}`;

describe('--db forms (PostgreSQL 15)', { skip: external.skip }, () => {
  test('a unix-socket URL postgres://u@/db?host=/dir runs', { skip: socket }, () => {
    external.require();
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', `postgres://postgres@/postgres?host=${SOCKET_DIR}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /every expectation met/);
  });

  test('sslmode=require against a server without SSL: one line, exit 3; sslmode=disable runs', () => {
    external.require();
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=require']);
    assert.equal(r.code, 3, r.stderr);
    noStack(r.stderr);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      'lockrepro: cannot connect to postgres://postgres@127.0.0.1:5432/postgres?sslmode=require: The server does not support SSL connections',
    ]);
    const ok = lockrepro(['run', 'ab-ba-deadlock', '--db', 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stderr, '');
  });
});
