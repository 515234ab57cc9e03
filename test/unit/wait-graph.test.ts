import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainToVictim, findCycle } from '../../src/engine/wait-graph.js';

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
