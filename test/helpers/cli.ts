/** Run the built binary (bin/lockrepro.js → dist/) as a user does, for the CLI tests. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const BIN = path.resolve('bin/lockrepro.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run lockrepro to the end. NO_COLOR, and no LOCKREPRO_DB from the caller's environment. */
export function lockrepro(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', LOCKREPRO_DB: '', ...env },
    // A bound, not a synchronisation: every run ends by itself; 10 min covers --interleavings on a busy machine.
    timeout: 600_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A folder for this test file's scenario files; `file(name, text)` writes one and returns its path. */
export function scratchFolder(): (name: string, text: string) => string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-cli-'));
  return (name, text) => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };
}

export const noStack = (s: string) => assert.doesNotMatch(s, /^\s+at /m, 'no stack trace');
