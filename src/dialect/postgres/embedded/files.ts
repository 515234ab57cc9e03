/** Copying and creating the cache's folders. */
import { chmod, constants, copyFile, lchown, lstat, mkdir, readdir, readlink, stat, symlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';

export interface CopyOptions {
  /** Also readable (and directories and executables enterable) by everyone: for our copy of the binaries. */
  everyoneReads?: boolean;
}

/**
 * `cp -a` in Node: keeps modes, symlinks and owners (a cluster belongs to nobody when root copies
 * it, and PostgreSQL refuses a data directory with another owner). Done here rather than by `cp`,
 * because a failure then comes with its errno (ENOSPC...) instead of one line of text per file.
 * `to` must not exist. On failure, a partial `to` is left for the caller to remove.
 */
export async function copyTree(from: string, to: string, opts: CopyOptions = {}): Promise<void> {
  await copyEntry(from, to, await lstat(from), opts);
}

async function copyEntry(from: string, to: string, st: Stats, opts: CopyOptions): Promise<void> {
  if (st.isDirectory()) {
    await mkdir(to, { mode: 0o700 });
    const names = await readdir(from);
    // Side by side, which lets libuv's thread pool overlap the copies. allSettled, not all: no
    // copy may still be writing when the caller removes a failed tree.
    const results = await Promise.allSettled(
      names.map(async (name) => copyEntry(join(from, name), join(to, name), await lstat(join(from, name)), opts)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } else if (st.isSymbolicLink()) {
    await symlink(await readlink(from), to);
  } else if (st.isFile()) {
    await copyFile(from, to, constants.COPYFILE_FICLONE); // copies the mode too
  } else {
    return; // a socket or fifo: meaningless in a copy
  }
  // A directory was made 0700 (and the umask may have cut even that); copyFile kept a file's mode.
  const mode = st.mode & 0o7777;
  if (opts.everyoneReads && !st.isSymbolicLink()) await chmod(to, mode | 0o444 | (st.isDirectory() || mode & 0o111 ? 0o111 : 0));
  else if (st.isDirectory()) await chmod(to, mode);
  // Only root can give a file away, and only root copies files it does not own (nobody's cluster).
  if (process.getuid && (st.uid !== process.getuid() || st.gid !== process.getgid!())) await lchown(to, st.uid, st.gid);
}

/**
 * mkdir -p, with `mode` set exactly (not reduced by the umask) on the directories it created. One
 * level at a time: Node's promise-based recursive mkdir reports a full disk (ENOSPC) as ENOENT.
 */
export async function mkdirs(dir: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; !(await stat(d).then(() => true, () => false)); d = dirname(d)) {
    missing.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of missing) {
    try {
      await mkdir(d, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // a concurrent run made it
      throw e;
    }
    await chmod(d, mode);
  }
}
