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

/**
 * The cycle a deadlock victim was on, deduced from the other waits when neither the monitor nor
 * the database's report named what the victim waited for: the victim first, then the chain of
 * waits that ends in a wait for the victim, followed backwards while each member has exactly one
 * waiter (its head is what the victim must have waited for, since a deadlock is a cycle through
 * the victim). `edges` are the other waiters' holders; the victim has none. [] when that chain is
 * not one single path (two workers wait for the same one): then the holder stays unknown rather
 * than guessed.
 */
export function chainToVictim(victim: string, edges: ReadonlyMap<string, readonly string[]>): string[] {
  const chain: string[] = [];
  let at = victim;
  for (;;) {
    const waiters = [...edges].filter(([w, holders]) => w !== victim && holders.includes(at)).map(([w]) => w);
    if (waiters.length > 1) return [];
    if (waiters.length === 0 || chain.includes(waiters[0]!)) break;
    chain.unshift(waiters[0]!);
    at = waiters[0]!;
  }
  return chain.length > 0 ? [victim, ...chain] : [];
}
