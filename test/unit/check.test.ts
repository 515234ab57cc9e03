// Parser and checker: every problem at once, each as file:line: message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTHORING_CASES, messageFor, withFix } from '../helpers/bad-inputs.js';
import { FIVE_PROBLEMS, plansFrom, problemsOf, scenarioFrom } from '../helpers/scenario.js';
import { planScenario } from '../../src/plan/plan.js';
import { builtinFiles, loadFile, resolveTargets } from '../../src/scenario/load.js';
import { parseParams } from '../../src/scenario/params.js';

const GOOD = `name: ok
title: t
story: s
workers:
  a:
    - { name: begin, sql: BEGIN }
    - { name: read, sql: SELECT 1, save: n }
  b:
    - { name: begin, sql: BEGIN }
schedule: [a.begin, b.begin, a.read]
expect: clean
`;

test('a valid scenario has no problems', () => {
  assert.deepEqual(problemsOf(GOOD), []);
});

test('a YAML syntax error is reported with its line', () => {
  const p = problemsOf('name: x\ntitle: t\nworkers:\n  a: [ {name: b, sql: "x" }\nexpect: clean\n');
  assert.equal(p.length, 1, p.join('\n'));
  // The `[` opened on line 4 is never closed; the parser finds out at the next key, line 5.
  assert.match(p[0]!, /^bad\.yaml:5: YAML: /);
});

test('unknown key, a schedule naming a missing step and a bad expectation are all reported at once, each at its own line', () => {
  const yaml = `name: x
title: t
story: s
workers:
  a:
    - { name: begin, sql: BEGIN, colour: red }
schedule: [a.begin, a.missing]
expect: deadlok
`;
  const p = problemsOf(yaml);
  assert.deepEqual(p, [
    'bad.yaml:6: workers.a[0]: unknown key "colour"',
    'bad.yaml:7: schedule names a.missing, which is not a step of a (steps: begin)',
    'bad.yaml:8: expect: "deadlok" is not one of: deadlock, lost-update, duplicates, invariant, serialization, lock-timeout, unique-violation, hang, error, clean',
  ]);
});

test('shape problems do not stop the reference checks on the well-formed parts: five problems, one pass', () => {
  const p = problemsOf(`name: x\ntitle: t\nstory: s\n${FIVE_PROBLEMS}`);
  assert.deepEqual(p, [
    'bad.yaml:7: workers.a[0]: unknown key "colour"',
    'bad.yaml:8: step a.lock has no SQL for mariadb',
    'bad.yaml:9: a.use uses :vv, which no earlier step of a saves',
    'bad.yaml:10: schedule names a.missing, which is not a step of a (steps: begin, lock, use)',
    'bad.yaml:11: expect: "deadlok" is not one of: deadlock, lost-update, duplicates, invariant, serialization, lock-timeout, unique-violation, hang, error, clean',
  ]);
});

test('a malformed part is reported once, without follow-ons in the checks that depend on it', () => {
  const p = problemsOf(`name: x
title: t
story: s
engines: [postgres, mysql]
setup: [5]
workers:
  a:
    - { sql: BEGIN }
    - { name: read, sql: SELECT 1 }
  b:
    - { name: read, sql: SELECT 1, save: [3] }
    - { name: use, sql: "SELECT :v" }
    - { name: write }
schedule: [a.whatever, "not a ref", b.read, b.use, b.nope]
expect: { postgres: clean, mysql: [] }
fixes:
  f:
    replace: { a.read: SELECT 2 }
  g:
    insert:
      - { after: b.read, step: { name: extra, sql: SELECT 1, colour: red } }
    remove: [b.gone]
`);
  assert.deepEqual(p, [
    'bad.yaml:5: setup[0]: 5 is not allowed here (expected string or object)',
    'bad.yaml:8: workers.a[0]: missing required key "name"',
    'bad.yaml:11: workers.b[0].save[0]: expected string, found 3',
    'bad.yaml:13: workers.b[2]: missing required key "sql"',
    'bad.yaml:14: schedule[1]: a step reference is written worker.step',
    'bad.yaml:14: schedule names b.nope, which is not a step of b (steps: read, use, write)',
    'bad.yaml:15: expect.mysql: Too small: expected array to have >=1 items',
    'bad.yaml:21: fixes.g.insert[0].step: unknown key "colour"',
  ]);
});

test('an insert needs exactly one of after: and before:', () => {
  const p = problemsOf(
    GOOD.replace(
      'expect: clean\n',
      `expect: clean
fixes:
  f:
    insert:
      - { step: { name: n, sql: SELECT 1 } }
      - { after: a.begin, before: a.read, step: { name: m, sql: SELECT 1 } }
`,
    ),
  );
  assert.deepEqual(p, [
    'bad.yaml:15: fixes.f.insert[0]: give exactly one of after: or before: (where the step goes)',
    'bad.yaml:16: fixes.f.insert[1]: give exactly one of after: or before: (where the step goes)',
  ]);
});

test('with engines: declared, every declared engine needs SQL and an expectation everywhere', () => {
  const p = problemsOf(
    GOOD.replace('name: ok\n', 'name: ok\nengines: [postgres, mysql, mariadb]\n')
      .replace('{ name: read, sql: SELECT 1, save: n }', '{ name: read, sql: { postgres: SELECT 1 }, save: n }')
      .replace('expect: clean\n', 'expect: { postgres: clean, mysql: clean }\n'),
  );
  assert.deepEqual(p, ['bad.yaml:8: step a.read has no SQL for mysql', 'bad.yaml:8: step a.read has no SQL for mariadb']);
  const q = problemsOf(
    GOOD.replace('name: ok\n', 'name: ok\nengines: [postgres, mariadb]\n').replace('expect: clean\n', 'expect: { postgres: clean }\n'),
  );
  assert.deepEqual(q, ['bad.yaml:12: expect has no entry for mariadb']);
});

test('--isolation runs the bug and fixes without a level at the levels asked; a fix with its own level keeps it, and says so', () => {
  const sc = scenarioFrom(
    GOOD.replace(
      'expect: clean\n',
      `expect: clean
isolation: { postgres: read-committed, mysql: repeatable-read }
notes: { postgres: bug note }
fixes:
  f:
    isolation: serializable
    notes: { postgres: fix note }
  g:
    notes: { postgres: g note }
`,
    ),
  );
  // A note is written for the variant's own level: left out when --isolation runs another.
  const plans = (isolations?: ('read-committed' | 'repeatable-read' | 'serializable')[]) =>
    planScenario(sc, { engine: 'postgres', placeholder: () => '?', isolations }).plans.map((p) => [
      p.name,
      p.isolation,
      p.engineNote,
      p.ownIsolationKept,
    ]);
  assert.deepEqual(plans(), [
    ['bug', 'read-committed', 'bug note', false],
    ['f', 'serializable', 'fix note', false],
    ['g', 'read-committed', 'g note', false],
  ]);
  assert.deepEqual(plans(['read-committed', 'serializable']), [
    ['bug', 'read-committed', 'bug note', false],
    ['bug', 'serializable', null, false],
    ['f', 'serializable', 'fix note', true],
    ['g', 'read-committed', 'g note', false],
    ['g', 'serializable', null, false],
  ]);
  assert.deepEqual(plans(['repeatable-read']), [
    ['bug', 'repeatable-read', null, false],
    ['f', 'serializable', 'fix note', true],
    ['g', 'repeatable-read', null, false],
  ]);
  // Asking for the fix's own level is no override: nothing to say.
  assert.deepEqual(plans(['serializable'])[1], ['f', 'serializable', 'fix note', false]);
});

test('a syntax error late in the file does not hide the problems before it', () => {
  const p = problemsOf(`name: x
title: t
story: s
workers:
  a:
    - { name: begin, sql: BEGIN, colour: red }
schedule: [a.begin, a.nope]
expect: clean
fixes: {
`);
  assert.equal(p.length, 3, p.join('\n'));
  assert.equal(p[0], 'bad.yaml:6: workers.a[0]: unknown key "colour"');
  assert.equal(p[1], 'bad.yaml:7: schedule names a.nope, which is not a step of a (steps: begin)');
  // The `{` on line 9 is never closed; the parser finds out at the end of the text, line 10.
  assert.match(p[2]!, /^bad\.yaml:10: YAML: /);
});

test('missing required keys name the key', () => {
  const p = problemsOf('name: x\ntitle: t\nworkers:\n  a:\n    - { name: s, sql: x }\n');
  assert.ok(p.includes('bad.yaml:1: the file: missing required key "story"'), p.join('\n'));
  assert.ok(p.includes('bad.yaml:1: the file: missing required key "expect"'), p.join('\n'));
});

test("schedules must list every step once, in each worker's own order", () => {
  const p = problemsOf(GOOD.replace('schedule: [a.begin, b.begin, a.read]', 'schedule: [a.read, a.begin, a.read]'));
  assert.deepEqual(p, [
    "bad.yaml:10: schedule puts a.begin after a later step of a; a worker's steps keep their own order",
    'bad.yaml:10: schedule names a.read twice',
    'bad.yaml:10: schedule leaves out b.begin; list every step once',
  ]);
});

test('a :name must be saved by an earlier step of the same worker', () => {
  const p = problemsOf(GOOD.replace('{ name: begin, sql: BEGIN }\nschedule', '{ name: begin, sql: "SELECT :n" }\nschedule'));
  assert.deepEqual(p, ['bad.yaml:9: b.begin uses :n, which no earlier step of b saves']);
});

test('fixes are checked: unknown steps and clashing inserts', () => {
  const p = problemsOf(
    GOOD.replace(
      'expect: clean\n',
      `expect: clean
fixes:
  f:
    replace: { a.nope: SELECT 2 }
    insert:
      - { after: a.begin, step: { name: read, sql: SELECT 3 } }
`,
    ),
  );
  assert.deepEqual(p, [
    'bad.yaml:14: fix f names a.nope, which is not a step of a (steps: begin, read)',
    'bad.yaml:16: fix f adds step a.read, which already exists',
  ]);
});

test('a scenario without SQL for the engine asked for is a planning problem with the line', () => {
  const sc = scenarioFrom(GOOD.replace('{ name: read, sql: SELECT 1, save: n }', '{ name: read, sql: { postgres: SELECT 1 }, save: n }'));
  const r = planScenario(sc, { engine: 'mariadb', placeholder: () => '?' });
  assert.deepEqual(
    r.problems.map((p) => `${p.line}: ${p.message}`),
    ['7: step a.read has no SQL for mariadb'],
  );
  assert.equal(planScenario(sc, { engine: 'postgres', placeholder: () => '?' }).problems.length, 0);
});

test("a fix's setup runs after the scenario's, in that fix only, and needs SQL for the engine", () => {
  const sc = scenarioFrom(
    GOOD.replace(
      'expect: clean\n',
      `setup: [CREATE TABLE t (id int)]
expect: clean
fixes:
  indexed:
    setup:
      - CREATE UNIQUE INDEX t_id ON t (id)
      - { postgres: ANALYZE t }
`,
    ),
  );
  const r = planScenario(sc, { engine: 'postgres', placeholder: () => '?' });
  assert.deepEqual(
    r.plans.map((p) => p.setup.map((s) => s.sql)),
    [['CREATE TABLE t (id int)'], ['CREATE TABLE t (id int)', 'CREATE UNIQUE INDEX t_id ON t (id)', 'ANALYZE t']],
  );
  assert.deepEqual(r.plans[1]!.fixSetup, ['CREATE UNIQUE INDEX t_id ON t (id)', 'ANALYZE t']);
  const m = planScenario(sc, { engine: 'mariadb', placeholder: () => '?' });
  assert.deepEqual(
    m.problems.map((p) => `${p.line}: ${p.message}`),
    ['17: fix indexed: setup[1] has no SQL for mariadb'],
  );
});

test('per-engine SQL: mysql serves mariadb unless mariadb is given', () => {
  const sc = scenarioFrom(
    GOOD.replace('{ name: read, sql: SELECT 1, save: n }', '{ name: read, sql: { postgres: SELECT 1, mysql: SELECT 2 }, save: n }'),
  );
  const r = planScenario(sc, { engine: 'mariadb', placeholder: () => '?' });
  assert.equal(r.plans[0]!.workers[0]!.steps[1]!.sql.text, 'SELECT 2');
});

test(':name references become placeholders; strings, comments and casts are left alone', () => {
  const p = parseParams("UPDATE t SET a = :x::int, b = ':y', c = $$:z$$ -- :w\n WHERE id = :id /* :v */ AND d = :x", 'postgres');
  assert.deepEqual(p.names, ['x', 'id', 'x']);
  assert.equal(
    p.render((n) => `$${n}`),
    "UPDATE t SET a = $1::int, b = ':y', c = $$:z$$ -- :w\n WHERE id = $2 /* :v */ AND d = $3",
  );
});

test('strings are lexed per engine: a backslash escapes a quote on MySQL/MariaDB, and on PostgreSQL only in E strings', () => {
  // PostgreSQL (standard_conforming_strings): 'C:\' is a whole string, so :x is a reference.
  assert.deepEqual(parseParams("SELECT 'C:\\' || :x", 'postgres').names, ['x']);
  assert.deepEqual(parseParams("SELECT E'it\\'s :y' || :x", 'postgres').names, ['x']);
  // MySQL/MariaDB: \' is an escaped quote, so ':y' stays inside the string.
  assert.deepEqual(parseParams("SELECT 'it\\'s :y', :x", 'mysql').names, ['x']);
  assert.deepEqual(parseParams('SELECT "a\\" :y", :x', 'mariadb').names, ['x']);
});

test('every built-in scenario is valid and says which seed story it retells', () => {
  const files = builtinFiles();
  assert.ok(files.length >= 2);
  for (const f of files) {
    const r = loadFile(f);
    assert.deepEqual(r.problems, [], f);
    assert.ok(r.scenario!.seed.length > 0, `${f} names its seed`);
    assert.ok(
      r.scenario!.seed.every((s) => /^00[0-3]\b/.test(s)),
      `${f}: seeds start with the story number`,
    );
  }
});

test('a __proto__ worker or fix name is refused, and a non-mapping file (a !!binary) is one problem', () => {
  const p = problemsOf(`name: x
title: t
story: s
workers:
  a: [{ name: s, sql: SELECT 1 }]
  __proto__: [{ name: s, sql: SELECT 2 }]
expect: clean
`);
  assert.deepEqual(p, [`bad.yaml:6: workers: "__proto__" is not a valid name (start with a letter; letters, digits, '_' and '-')`]);
  assert.deepEqual(problemsOf('!!binary aGVsbG8=\n'), [
    'bad.yaml:1: a scenario file must be a YAML mapping (name:, title:, workers:, ...)',
  ]);
});

test('bad authoring input (whole-step replace, a fix schedule, waits): one exact line each', () => {
  for (const [fix, message, step] of AUTHORING_CASES)
    assert.deepEqual(problemsOf(withFix(fix, step)), [messageFor(message, 'bad.yaml', '')], fix);
});

test("a whole-step replace keeps the step's place and name, and nothing else of it; SQL alone keeps the rest", () => {
  const [, sqlOnly, whole] = plansFrom(
    withFix(
      `    replace: { a.read: SELECT 2 }
  g:
    replace: { a.read: { sql: SELECT 3, catch: [deadlock], waits: false } }
`,
    ).replace('SELECT 1, save: n', 'SELECT 1, save: n, note: old, waits: true'),
  );
  const read = (p: typeof sqlOnly) => p!.workers[0]!.steps[1]!;
  assert.deepEqual([read(sqlOnly).sql.source, read(sqlOnly).save, read(sqlOnly).waits, read(sqlOnly).note], ['SELECT 2', 'n', true, null]);
  assert.deepEqual(
    [read(whole).name, read(whole).sql.source, read(whole).save, [...read(whole).catch.keys()], read(whole).waits],
    ['read', 'SELECT 3', null, ['deadlock'], false],
  );
  assert.deepEqual(whole!.schedule, sqlOnly!.schedule);
});

test("a fix's own schedule replaces the bug's (after its edits)", () => {
  const [bug, fix] = plansFrom(
    withFix(`    insert: [{ after: a.read, step: { name: more, sql: SELECT 3 } }]
    schedule: [b.begin, a.begin, a.read, a.more]
`),
  );
  const text = (p: typeof bug) => p!.schedule.map((r) => `${r.worker}.${r.step}`).join(' ');
  assert.equal(text(bug), 'a.begin b.begin a.read');
  assert.equal(text(fix), 'b.begin a.begin a.read a.more');
});

test('a "billion laughs" file is one problem naming the aliases; a FIFO or /dev/zero scenario is "not a regular file"', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (const n of ['b', 'c', 'd', 'e', 'f', 'g'])
    levels.push(
      `${n}: &${n} [${Array(9)
        .fill(`*${String.fromCharCode(n.charCodeAt(0) - 1)}`)
        .join(', ')}]`,
    );
  assert.deepEqual(problemsOf(`${levels.join('\n')}\n`), [
    'bad.yaml:1: YAML: aliases expand too far (more than 100 per node: a "billion laughs" file?)',
  ]);
  assert.deepEqual(resolveTargets(['/dev/zero']).missing, [
    '/dev/zero: not a regular file (a scenario is a .yaml file or a folder of them)',
  ]);
  // Named directly (not through a target), the file is still refused without a read.
  assert.deepEqual(
    loadFile('/dev/zero').problems.map((p) => `${p.file}:${p.line}: ${p.message}`),
    ['/dev/zero:1: cannot read: not a regular file'],
  );
});
