/**
 * A worker thread holding one SQLite connection, for stress mode (thread-session.ts): the
 * statement runs here with a real busy_timeout, so the busy handler really sleeps and polls while
 * the other workers' threads go on, as in an application with one thread or process per request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDb, sqliteCode } from './driver.js';
import { runStatement } from './session.js';

export interface ThreadRequest {
  readonly sql: string;
  readonly params: readonly unknown[];
}

export type ThreadReply =
  | { readonly ok: ReturnType<typeof runStatement>['result'] }
  | { readonly code: string; readonly message: string; readonly ms: number; readonly wasOpen: boolean; readonly open: boolean }
  | { readonly fatal: string };

const { file, busyTimeoutMs } = workerData as { file: string; busyTimeoutMs: number };
const db = openDb(file);
db.pragma(`busy_timeout = ${busyTimeoutMs}`);
parentPort!.postMessage('ready');
parentPort!.on('message', (m: ThreadRequest | 'close') => {
  if (m === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  const t0 = performance.now();
  const wasOpen = db.inTransaction;
  let reply: ThreadReply;
  try {
    reply = { ok: runStatement(db, m.sql, m.params).result };
  } catch (e) {
    const code = sqliteCode(e);
    reply =
      code === null
        ? { fatal: (e as Error).message }
        : { code, message: (e as Error).message, ms: performance.now() - t0, wasOpen, open: db.inTransaction };
  }
  parentPort!.postMessage(reply);
});
