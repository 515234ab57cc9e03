/** Defaults the help text shows, apart from the run command so that `check` need not load it. */

export const DEFAULT_INTERLEAVINGS = 200;
/** Stress runs at once: enough to keep a 2-core machine's database busy, few enough for its connections. */
export const DEFAULT_CONCURRENCY = 4;
