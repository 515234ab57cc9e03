/** Copying and creating the cache's folders. */
import { chmodSync, constants, copyFileSync, lchownSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface CopyOptions {
  /** Also readable (and directories and executables enterable) by everyone: for our copy of the binaries. */
  everyoneReads?: boolean;
  /** Ctrl-C / SIGTERM: the copy stops (rejecting with the signal's reason), leaving a partial `to`. */
  signal?: AbortSignal;
}

/** Files copied between two turns of the event loop, when a signal handler can run. */
const FILES_PER_TURN = 64;

/**
 * `cp -a` in Node: keeps modes, symlinks and owners (a cluster belongs to nobody when root copies
 * it, and PostgreSQL refuses a data directory with another owner). Done here rather than by `cp`,
 * because a failure then comes with its errno (ENOSPC...) instead of one line of text per file.
 * `to` must not exist. On failure, a partial `to` is left for the caller to remove.
 *
 * Synchronous calls on purpose: on a busy machine the thread-pool version took 1.2–1.5 times as
 * long as `cp -a`, this one as long or less (the template, about 1000 files, 39 MB: 0.3–0.7 s
 * there, 1.3–1.6 s with every core busy). It lets the event loop turn every FILES_PER_TURN files,
 * so that Ctrl-C and SIGTERM are heard (and obeyed, with `signal`) within a moment, not after it.
 */
export async function copyTree(from: string, to: string, opts: CopyOptions = {}): Promise<void> {
  let files = 0;
  const copy = async (from: string, to: string): Promise<void> => {
    if (++files % FILES_PER_TURN === 0) {
      await new Promise((resolve) => setImmediate(resolve));
      opts.signal?.throwIfAborted();
    }
    const st = lstatSync(from);
    if (st.isDirectory()) {
      mkdirSync(to, { mode: 0o700 });
      for (const name of readdirSync(from)) await copy(join(from, name), join(to, name));
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(from), to);
    } else if (st.isFile()) {
      copyFileSync(from, to, constants.COPYFILE_FICLONE); // copies the mode too
    } else {
      return; // a socket or fifo: meaningless in a copy
    }
    // A directory was made 0700 (and the umask may have cut even that); copyFile kept a file's mode.
    const mode = st.mode & 0o7777;
    if (opts.everyoneReads && !st.isSymbolicLink()) chmodSync(to, mode | 0o444 | (st.isDirectory() || mode & 0o111 ? 0o111 : 0));
    else if (st.isDirectory()) chmodSync(to, mode);
    // Only root can give a file away, and only root copies files it does not own (nobody's cluster).
    if (process.getuid && (st.uid !== process.getuid() || st.gid !== process.getgid!())) lchownSync(to, st.uid, st.gid);
  };
  await copy(from, to);
}

/**
 * mkdir -p, with `mode` set exactly (not reduced by the umask) on the directories it created. One
 * level at a time: Node's promise-based recursive mkdir reports a full disk (ENOSPC) as ENOENT.
 */
export async function mkdirs(dir: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (
    let d = dir;
    !(await stat(d).then(
      () => true,
      () => false,
    ));
    d = dirname(d)
  ) {
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
