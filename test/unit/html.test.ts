// The HTML and Mermaid reporters, as pure functions of a Report from the fake dialect (no database):
// AB/BA with a deadlock, a fix that takes the locks in one order, a fix that retries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runVariant } from '../../src/engine/run.js';
import { detect } from '../../src/detect/detect.js';
import { toHtml } from '../../src/report/html.js';
import { toMermaid } from '../../src/report/mermaid.js';
import { timelineRows } from '../../src/report/timeline.js';
import type { Report } from '../../src/report/model.js';
import { FakeDialect } from '../helpers/fake-dialect.js';
import { plansFrom } from '../helpers/scenario.js';

// Names and SQL with the characters HTML and Mermaid treat specially.
const ABBA = `name: abba
title: A & B <in> "opposite" order
story: Two <workers>; each locks what the other wants.
workers:
  alice:
    - { name: begin, sql: BEGIN }
    - { name: x, sql: LOCK x, note: "takes x & waits" }
    - { name: y, sql: LOCK y }
    - { name: commit, sql: COMMIT }
  bob:
    - { name: begin, sql: BEGIN }
    - { name: y, sql: LOCK y }
    - { name: x, sql: LOCK x }
    - { name: commit, sql: COMMIT }
schedule: [alice.begin, bob.begin, alice.x, bob.y, alice.y, bob.x, alice.commit, bob.commit]
checks:
  - { name: "sum < 3 & \\"ok\\"", sql: SELECT 1, expect: 1, anomaly: invariant }
  - { name: never true, sql: SELECT 1, expect: 9, anomaly: invariant }
expect: [deadlock, invariant]
fixes:
  ordered:
    replace: { bob.y: LOCK x, bob.x: LOCK y }
    expect: invariant
  retried:
    retry: { on: [deadlock], attempts: 2 }
    expect: invariant
`;

async function abbaReport(): Promise<Report> {
  const dialect = new FakeDialect();
  const plans = plansFrom(ABBA);
  const variants = [];
  for (const plan of plans) {
    const run = await runVariant(dialect, plan);
    variants.push({ mode: 'schedule' as const, run, verdict: detect(run) });
  }
  return { database: dialect.info, scenarios: [{ scenario: plans[0]!.scenario, variants }] };
}

test('HTML: one self-contained page, every text escaped, bug and fixes labelled, victim, cycle, waits, not-run steps, checks and verdicts', async () => {
  const report = await abbaReport();
  const html = toHtml(report);
  // Self-contained: nothing that would make a browser fetch anything.
  assert.doesNotMatch(html, /<script|<link|<img|@import|url\((?!#)|https?:\/\//i);
  // Text from the scenario never becomes markup.
  assert.doesNotMatch(html, /<in>|<workers>/);
  assert.match(html, /takes x &amp; waits/);

  assert.match(html, /A &amp; B &lt;in&gt; &quot;opposite&quot; order/);
  assert.match(html, /sum &lt; 3 &amp; &quot;ok&quot;/);

  const variants = [...html.matchAll(/<article class="variant (bug|fix)" data-variant="([^"]+)">/g)].map((m) => `${m[1]}:${m[2]}`);
  assert.deepEqual(variants, ['bug:bug', 'fix:ordered', 'fix:retried']);
  assert.match(html, /<span class="badge bug">BUG<\/span>/);
  assert.equal(html.match(/<span class="badge fix">FIX<\/span>/g)?.length, 2);

  // The bug's deadlock: bob closes the cycle and is the victim (the fake dialect's rule).
  const bug = section(html, 'bug');
  assert.match(bug, /<g class="cycle" data-victim="bob">/);
  assert.match(bug, /<div class="deadlock" data-victim="bob">/);
  assert.match(bug, /<g class="step victim" data-worker="bob" data-step="x">/);
  assert.match(bug, /data-worker="alice" data-blocked-by="bob" data-lock="lock \(y\)"/);
  assert.match(bug, /<text [^>]*class="halo lock">lock \(y\)<\/text>/, 'the lock named under the arrow');
  assert.match(bug, /class="wait-bar" data-step="alice.y"/);
  assert.match(bug, /<g class="step not-run" data-worker="bob" data-step="commit">/);
  assert.match(bug, /<li class="check pass" data-check="sum &lt; 3 &amp; &quot;ok&quot;"><span class="mark">✓<\/span>/);
  assert.match(bug, /<li class="check fail" data-check="never true"><span class="mark">✗<\/span>.*expected 9, got 1/);
  assert.match(bug, /<p class="verdict pass">saw deadlock \+ invariant; expected deadlock \+ invariant ✓/);

  // The ordered fix waits but never deadlocks; the retried one retries and nothing is left un-run.
  const ordered = section(html, 'ordered');
  assert.doesNotMatch(ordered, /class="cycle"|class="deadlock"|not-run/);
  assert.match(ordered, /data-worker="bob" data-blocked-by="alice"/);
  const retried = section(html, 'retried');
  assert.match(retried, /rolls back, retries \(attempt 2\)/);
  assert.match(retried, /data-step="begin"><title>/);
  assert.match(retried, /\(attempt 2\)/);
  assert.match(html, /<p class="overall pass">/);
});

test('HTML is the same for the same run order (no timings, no PIDs)', async () => {
  const a = await abbaReport();
  const b = await abbaReport();
  for (const r of [b])
    for (const v of r.scenarios[0]!.variants)
      for (const s of v.run.steps) {
        s.startedMs = (s.startedMs ?? 0) + 1234;
        s.endedMs = (s.endedMs ?? 0) + 4321;
        s.backendId = 99999;
      }
  assert.equal(toHtml(a), toHtml(b));
  assert.doesNotMatch(toHtml(b), /99999/);
});

test('timeline rows follow the event order: a step that does not wait is one row, a wait is start, wait, finish', async () => {
  const report = await abbaReport();
  const run = report.scenarios[0]!.variants[0]!.run;
  const rows = timelineRows(run).map((r) => {
    if (r.kind === 'step') return `${run.steps[r.step]!.worker}.${run.steps[r.step]!.step}:${r.phase}`;
    if (r.kind === 'wait') return `wait:${run.steps[r.step]!.worker}>${r.blockedBy.join('+')}`;
    if (r.kind === 'skip') return `skip:${run.steps[r.step]!.worker}.${run.steps[r.step]!.step}`;
    if (r.kind === 'cycle') return `cycle:${r.victim}`;
    return `note:${r.worker}`;
  });
  assert.deepEqual(rows, [
    'alice.begin:whole',
    'bob.begin:whole',
    'alice.x:whole',
    'bob.y:whole',
    'alice.y:start',
    'wait:alice>bob',
    'bob.x:start',
    'wait:bob>alice',
    'bob.x:finish',
    'cycle:bob',
    'note:bob',
    'alice.y:finish',
    'alice.commit:whole',
    'skip:bob.commit',
  ]);
});

test('Mermaid: a sequenceDiagram per variant, workers and the database as participants, special characters as entities', async () => {
  const md = toMermaid(await abbaReport());
  const diagrams = [...md.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(diagrams.length, 3);
  assert.match(md, /### bug \(read-committed\): saw deadlock \+ invariant, expected deadlock \+ invariant ✓/);
  assert.match(md, /### fix ordered/);
  assert.match(md, /### fix retried/);
  const bug = diagrams[0]!;
  assert.match(bug, /^sequenceDiagram\n {2}participant w0 as alice\n {2}participant w1 as bob\n {2}participant db as postgres\n/);
  assert.match(bug, / {2}w0->>db: x: LOCK x\n {2}db-->>w0: /);
  assert.match(bug, / {2}Note over w0,w1: alice waits for bob · lock \(y\)\n/, 'the wait, and the lock it is on');
  assert.match(bug, / {2}db--xw1: after waiting: ✗ deadlock \(FAKE-DL\)\n {2}Note over w1,w0: ☠ deadlock: bob → alice → bob, victim bob\n/);
  assert.match(bug, /Note over w1: commit: not run/);
  // Nothing in a message line that Mermaid would read as syntax.
  for (const line of diagrams.join('\n').split('\n')) {
    const message = line.split(': ').slice(1).join(': ');
    assert.doesNotMatch(message, /[;<>"{}]/, line);
  }
  assert.match(diagrams[2]!, /Note over w1: ↻ retries \(attempt 2\)/);
});

/** One variant's article. */
function section(html: string, variant: string): string {
  const start = html.indexOf(`data-variant="${variant}"`);
  assert.ok(start >= 0, variant);
  return html.slice(start, html.indexOf('</article>', start));
}
