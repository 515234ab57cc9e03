import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainToVictim, findCycle } from '../../src/engine/wait-graph.js';
import { tellVictimWait } from '../../src/engine/victim.js';
import type { RunEvent, StepRecord } from '../../src/engine/result.js';

const g = (o: Record<string, string[]>) => new Map(Object.entries(o));

test('a two- and a three-worker cycle are found; a chain is not a cycle', () => {
  assert.deepEqual(findCycle(g({ a: ['b'], b: ['a'] })).sort(), ['a', 'b']);
  assert.deepEqual(findCycle(g({ a: ['b'], b: ['c'], c: ['a'], d: ['a'] })).sort(), ['a', 'b', 'c']);
  assert.deepEqual(findCycle(g({ a: ['b'], b: ['c'], c: [] })), []);
  assert.deepEqual(findCycle(g({})), []);
});

test('a waiter outside the cycle is not part of it', () => {
  assert.deepEqual(findCycle(g({ d: ['a'], a: ['b'], b: ['a'] })).sort(), ['a', 'b']);
});

test('chainToVictim: the chain of waits ending at the victim names what the victim waited for', () => {
  assert.deepEqual(chainToVictim('bob', g({ alice: ['bob'] })), ['bob', 'alice']);
  // alice → carol → bob, bob the victim: bob waited for alice, the head of the chain.
  assert.deepEqual(chainToVictim('bob', g({ carol: ['bob'], alice: ['carol'] })), ['bob', 'alice', 'carol']);
  // Two workers wait for the victim: which one closed the cycle is not known, so nothing is guessed.
  assert.deepEqual(chainToVictim('bob', g({ alice: ['bob'], carol: ['bob'] })), []);
  assert.deepEqual(chainToVictim('bob', g({ alice: ['carol'] })), []);
});

test('tellVictimWait: a victim nobody named gets the deduced holder, told once; unknown when a worker was not seen waiting', () => {
  const rec = { worker: 'bob', blocked: true, blockedBy: [] as string[] } as unknown as StepRecord;
  const events: RunEvent[] = [
    { type: 'start', step: 1 },
    { type: 'wait', step: 1, blockedBy: [] },
    { type: 'wait', step: 1, blockedBy: [] },
  ];
  const cycle = tellVictimWait({ rec, step: 1, reported: [], others: g({ alice: ['bob'] }) }, events);
  assert.deepEqual(cycle, ['bob', 'alice']);
  assert.deepEqual(rec.blockedBy, ['alice']);
  assert.deepEqual(events, [
    { type: 'start', step: 1 },
    { type: 'wait', step: 1, blockedBy: ['alice'] },
  ]);
  // Another in-flight worker was not seen waiting: the chain may be incomplete, so nothing is deduced.
  const unseen = { worker: 'bob', blocked: false, blockedBy: [] as string[] } as unknown as StepRecord;
  const later: RunEvent[] = [];
  assert.deepEqual(tellVictimWait({ rec: unseen, step: 2, reported: [], others: null }, later), []);
  assert.deepEqual(later, [{ type: 'wait', step: 2, blockedBy: [] }]);
  // The database's report names the holder: that is what is told.
  const named = { worker: 'bob', blocked: false, blockedBy: [] as string[] } as unknown as StepRecord;
  tellVictimWait({ rec: named, step: 3, reported: ['carol'], others: null }, []);
  assert.deepEqual(named.blockedBy, ['carol']);
});
