/** The few promise helpers the engine needs, in one place. */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * `p`, unless `signal` aborts first: then rejects with `reason()`. `p` goes on (its owner ends it)
 * and a later rejection of it is not an unhandled one.
 */
export async function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, reason: () => Error): Promise<T> {
  if (!signal) return p;
  p.catch(() => undefined);
  if (signal.aborted) throw reason();
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Whether one of `promises` settles within `ms` (the timer is cleared as soon as one does). */
export async function settlesWithin(promises: readonly Promise<unknown>[], ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      ...promises.map((p) =>
        p.then(
          () => true,
          () => true,
        ),
      ),
      delay(ms, false, { signal: timer.signal }).catch(() => false),
    ]);
  } finally {
    timer.abort();
  }
}
