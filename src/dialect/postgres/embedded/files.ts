/** Copying and creating the cache's folders. */
import { chmod, cp, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { runProgram } from './server.js';

/** cp -a: keeps owners (the data belongs to nobody when we are root), modes and symlinks. */
export async function copyTree(from: string, to: string): Promise<void> {
  if (process.platform === 'win32') await cp(from, to, { recursive: true, verbatimSymlinks: true });
  else await runProgram('cp', ['-a', from, to]);
}

/** mkdir -p, with `mode` set exactly (not reduced by the umask) on the directories it created. */
export async function mkdirs(dir: string, mode: number): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode });
  if (!first) return;
  for (let d = dir; ; d = dirname(d)) {
    await chmod(d, mode);
    if (d === first) return;
  }
}
