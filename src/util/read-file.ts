/**
 * Reading a file the user named (a scenario, a schema file) without trusting what it is: a FIFO
 * would block the read forever and /dev/zero never ends, so the file is opened without blocking,
 * checked to be a regular file on the open descriptor (no window for a swap after a stat), and
 * read up to a bound.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Larger than any scenario or schema dump we expect; a bigger file is refused, not half read. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

export type ReadResult = { readonly text: string } | { readonly problem: string };

/** The file's text, or why it cannot be read: a one-line reason naming no path. */
export function readRegularFile(file: string, maxBytes = MAX_FILE_BYTES): ReadResult {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return { problem: errnoText(e) };
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return { problem: 'is a folder, not a file' };
    if (!st.isFile()) return { problem: 'not a regular file' };
    if (st.size > maxBytes) return { problem: `too large (${st.size} bytes; at most ${maxBytes})` };
    const buf = Buffer.alloc(st.size);
    let read = 0;
    while (read < buf.length) {
      const n = readSync(fd, buf, read, buf.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return { text: buf.subarray(0, read).toString('utf8') };
  } catch (e) {
    return { problem: errnoText(e) };
  } finally {
    closeSync(fd);
  }
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a folder, not a file';
  if (code === 'EACCES') return 'permission denied';
  return `cannot read (${code ?? (e as Error).message})`;
}
