/** Cycles in a "who waits for whom" graph, as the monitor sees it. */

/**
 * The members of one cycle (in walk order), or [] when there is none. `edges` maps a waiter to
 * those it waits for; names without an entry wait for nobody.
 */
export function findCycle(edges: ReadonlyMap<string, readonly string[]>): string[] {
  const done = new Set<string>();
  for (const start of edges.keys()) {
    const path: string[] = [];
    const visit = (n: string): string[] => {
      const at = path.indexOf(n);
      if (at >= 0) return path.slice(at);
      if (done.has(n)) return [];
      path.push(n);
      for (const next of edges.get(n) ?? []) {
        const cycle = visit(next);
        if (cycle.length > 0) return cycle;
      }
      path.pop();
      done.add(n);
      return [];
    };
    const cycle = visit(start);
    if (cycle.length > 0) return cycle;
  }
  return [];
}
