/**
 * The MySQL / MariaDB dialect. Files, one role each:
 *   dialect.ts          connect, identify the server, choose the lock-wait source
 *   scratch.ts          a scratch database and its connections
 *   session.ts          running users' statements on one connection
 *   connection.ts       mysql2 options and server numbers
 *   url.ts              mysql:// and mariadb:// URLs
 *   errors.ts           errno → error kind and rollback scope
 *   lock-waits.ts       who waits for whom: the queries (thin I/O)
 *   holders.ts          who waits for whom: the inference, a pure function of what was read
 *   innodb-status.ts    parsing SHOW ENGINE INNODB STATUS (the transaction list)
 *   deadlock-report.ts  parsing its LATEST DETECTED DEADLOCK section
 *   values.ts           result values as the server's own text
 *   get-lock.ts         GET_LOCK() names in a statement
 *   performance-schema.ts  MySQL 8's live lock tables (untested)
 */
export { connectMysql } from './dialect.js';
export { scratchName } from '../scratch-name.js';
