/**
 * Stress mode's SQLite session: its connection lives in a worker thread (thread.ts) with a real
 * busy_timeout, so the workers' statements truly overlap and the machine's timing decides the
 * interleaving, as for any other engine. (The scheduler's sessions, session.ts, run in this
 * thread and model the waits instead, so the same schedule gives the same transcript.)
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QueryResult, Session } from '../../engine/dialect.js';
import { QueryError } from '../../engine/dialect.js';
import { classifySqliteError, busyAtOnce } from './errors.js';
import type { ThreadReply } from './thread.js';
import { loadDriver } from './driver.js';

/**
 * The busy_timeout of stress runs. Applications use seconds (Django and better-sqlite3: 5 s); a
 * real wait here lasts as long as another worker's transaction, milliseconds, and 1 s keeps a run
 * that can never move (every worker waiting) well inside lockrepro's step timeout.
 */
export const STRESS_BUSY_TIMEOUT_MS = 1000;

/** The compiled thread.js beside this file, or thread.ts when run from source (tsx, in tests). */
function threadFile(): URL {
  const js = new URL('./thread.js', import.meta.url);
  return existsSync(fileURLToPath(js)) ? js : new URL('./thread.ts', import.meta.url);
}

export class ThreadSession implements Session {
  private readonly thread: Worker;
  private pending: { resolve: (r: QueryResult) => void; reject: (e: unknown) => void } | null = null;
  private ended = false;

  private constructor(
    readonly worker: string,
    readonly backendId: number,
    private readonly wal: boolean,
    file: string,
  ) {
    this.thread = new Worker(threadFile(), { workerData: { file, busyTimeoutMs: STRESS_BUSY_TIMEOUT_MS } });
    this.thread.on('error', (e) => this.fail(e));
    this.thread.on('exit', () => this.fail(new Error('the connection is closed')));
  }

  /** A session whose thread has opened its connection. */
  static async open(worker: string, backendId: number, wal: boolean, file: string): Promise<ThreadSession> {
    // The native module loads here first: a thread would only report its failure as an exit.
    loadDriver();
    const s = new ThreadSession(worker, backendId, wal, file);
    await new Promise<void>((resolve, reject) => {
      s.thread.once('message', () => resolve());
      s.thread.once('error', reject);
      s.thread.once('exit', () => reject(new Error('the SQLite thread ended before it opened its connection')));
    });
    s.thread.on('message', (m: ThreadReply) => s.reply(m));
    return s;
  }

  query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    if (this.ended) return Promise.reject(new Error('the connection is closed'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.thread.postMessage({ sql, params: [...params] });
    });
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const exited = new Promise((resolve) => this.thread.once('exit', resolve));
    this.thread.postMessage('close');
    await exited;
  }

  /** End the thread (and with it the connection) even in the middle of a statement. */
  async terminate(): Promise<void> {
    this.ended = true;
    await this.thread.terminate();
  }

  private reply(m: ThreadReply): void {
    const p = this.pending;
    this.pending = null;
    if (!p) return;
    if ('ok' in m) p.resolve(m.ok);
    else if ('fatal' in m) p.reject(new Error(m.fatal));
    else if (m.code.startsWith('SQLITE_BUSY')) {
      // As in the scheduler's model (scratch.ts): a busy handler SQLite skipped answers at once;
      // one it called slept the whole busy_timeout, which then ran out.
      const timedOut = m.code === 'SQLITE_BUSY' && m.ms >= STRESS_BUSY_TIMEOUT_MS;
      p.reject(
        new QueryError(
          timedOut
            ? { code: m.code, kind: 'lock-timeout', message: m.message, rolledBack: 'statement' }
            : busyAtOnce(m.code, this.wal, this.backendId, null),
        ),
      );
    } else p.reject(new QueryError(classifySqliteError(m.code, m.message, m.wasOpen && !m.open ? 'transaction' : 'statement')));
  }

  private fail(e: unknown): void {
    this.ended = true;
    const p = this.pending;
    this.pending = null;
    p?.reject(e);
  }
}
