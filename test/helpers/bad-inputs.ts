/**
 * The bad inputs of issue #9 (schema files, authoring), each with its exact one-line message:
 * checked in process by the unit tests and through the built binary (exit 2) by
 * test/cli/errors.test.ts. In a message, `S` stands for the scenario file as shown and `D/` for
 * the folder its .sql files are shown in.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export type BadInput = readonly [yaml: string, message: string];

/** A scenario whose setup is `setup` (lines from 5). */
export const withSetup = (setup: string) => `name: files
title: t
story: s
setup:
${setup}
workers:
  a:
    - { name: begin, sql: BEGIN }
expect: clean
`;

/** The .sql files (and a folder and a FIFO) the file cases name, written next to the scenario. */
export function writeSqlFiles(write: (name: string, text: string) => string): void {
  const dir = path.dirname(write('ok.sql', 'SELECT 1;'));
  write('unterminated.sql', "SELECT 1;\nSELECT 'x\n");
  write('dollar.sql', 'SELECT $f$ x;\n');
  write('comment.sql', 'SELECT 1;\n/* open\n');
  write('empty.sql', '-- nothing\n');
  write('delimiter.sql', 'DELIMITER\nSELECT 1\n');
  write('shared.sql', "SELECT $$ it's $$;\n");
  mkdirSync(path.join(dir, 'folder'), { recursive: true });
  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
}

export const FILE_CASES: readonly BadInput[] = [
  ['  - file: nope.sql', 'S:5: setup[0]: file nope.sql: no such file'],
  ['  - file: folder', 'S:5: setup[0]: file folder: is a folder, not a file'],
  ['  - file: fifo', 'S:5: setup[0]: file fifo: not a regular file'],
  ['  - file: /dev/zero', 'S:5: setup[0]: file /dev/zero: not a regular file'],
  ['  - file: ""', 'S:5: setup[0].file: a file path must not be empty'],
  ['  - file: 3', 'S:5: setup[0].file: 3 is not allowed here (expected string or object)'],
  ['  - { file: ok.sql, sql: SELECT 2 }', 'S:5: setup[0]: unknown key "sql"'],
  ['  - file: { postgres: ok.sql, oracle: ok.sql }', 'S:5: setup[0].file: unknown key "oracle"'],
  ['  - file: { postgres: nope.sql }', 'S:5: setup[0]: file nope.sql: no such file'],
  ['  - SELECT 1\n  - file: nope.sql', 'S:6: setup[1]: file nope.sql: no such file'],
  ['  - file: unterminated.sql', "D/unterminated.sql:2: unterminated '…' string (setup[0] at S:5)"],
  ['  - file: { postgres: dollar.sql }', 'D/dollar.sql:1: unterminated dollar quote $f$ (setup[0] at S:5)'],
  ['  - file: comment.sql', 'D/comment.sql:2: unterminated /* comment (setup[0] at S:5)'],
  ['  - file: empty.sql', 'D/empty.sql:1: has no SQL statement (setup[0] at S:5)'],
  ['  - file: { mysql: delimiter.sql }', 'D/delimiter.sql:1: DELIMITER needs the new delimiter on the same line (setup[0] at S:5)'],
  // One file for every engine: a dollar quote means nothing to MySQL, whose reading fails.
  ['  - file: shared.sql', "D/shared.sql:1: unterminated '…' string (setup[0] at S:5, read as mysql and mariadb SQL)"],
];

/** A scenario with workers a (begin, read) and b (begin), and one fix `f` (lines from 13). */
export const withFix = (fix: string, step = '') => `name: x
title: t
story: s
workers:
  a:
    - { name: begin, sql: BEGIN${step} }
    - { name: read, sql: SELECT 1, save: n }
  b:
    - { name: begin, sql: BEGIN }
expect: clean
fixes:
  f:
${fix}`;

/** Authoring cases: the fix's lines, the message, and what to add to step a.begin. */
export const AUTHORING_CASES: readonly (readonly [fix: string, message: string, step?: string])[] = [
  ['    replace: { a.read: { sql: SELECT 2, colour: red } }', 'S:13: fixes.f.replace.a.read: unknown key "colour"'],
  ['    replace: { a.read: { sql: SELECT 2, name: other } }', 'S:13: fixes.f.replace.a.read: unknown key "name"'],
  ['    replace: { a.read: { postgress: SELECT 2 } }', 'S:13: fixes.f.replace.a.read: unknown key "postgress"'],
  ['    replace: { a.read: { sql: "SELECT :m" } }', 'S:13: a.read (in fix f) uses :m, which no earlier step of a saves'],
  ['    replace: { a.read: { sql: SELECT 2, waits: maybe } }', 'S:13: fixes.f.replace.a.read.waits: expected boolean, found "maybe"'],
  ['    replace: { a.nope: { sql: SELECT 2 } }', 'S:13: fix f names a.nope, which is not a step of a (steps: begin, read)'],
  ['    replace: { a.read: { sql: "" } }', 'S:13: fixes.f.replace.a.read.sql: SQL must not be empty'],
  ['    replace: { a.read: { save: n } }', 'S:13: fixes.f.replace.a.read: missing required key "sql"'],
  [
    '    replace: { a.read: { sql: SELECT 2, catch: [oops] } }',
    'S:13: fixes.f.replace.a.read.catch[0]: "oops" is not one of: deadlock, serialization, unique-violation, lock-timeout, timeout, other',
  ],
  ['    schedule: [a.begin, a.read]', 'S:13: fix f: schedule leaves out b.begin; list every step once'],
  ['    schedule: [a.begin, a.read, b.begin, b.nope]', 'S:13: fix f: schedule names b.nope, which is not a step of b (steps: begin)'],
  [
    '    schedule: [a.read, a.begin, b.begin]',
    "S:13: fix f: schedule puts a.begin after a later step of a; a worker's steps keep their own order",
  ],
  ['    schedule: [a.begin, a.begin, a.read, b.begin]', 'S:13: fix f: schedule names a.begin twice'],
  ['    schedule: [nodot]', 'S:13: fixes.f.schedule[0]: a step reference is written worker.step'],
  ['    schedule: a.begin', 'S:13: fixes.f.schedule: expected array, found "a.begin"'],
  [
    '    insert: [{ after: a.read, step: { name: more, sql: SELECT 3 } }]\n    schedule: [a.begin, a.read, b.begin]',
    'S:14: fix f: schedule leaves out a.more; list every step once',
  ],
  [
    '    remove: [a.read]\n    schedule: [a.begin, a.read, b.begin]',
    'S:14: fix f: schedule names a.read, which is not a step of a (steps: begin)',
  ],
  ['    expect: clean', 'S:6: workers.a[0].waits: expected boolean, found "yes"', ', waits: yes'],
  ['    expect: clean', 'S:6: workers.a[0].waits: expected boolean, found 1', ', waits: 1'],
  [
    '    isolation: serialisable',
    'S:13: fixes.f.isolation: "serialisable" is not one of: read-uncommitted, read-committed, repeatable-read, serializable',
  ],
];

/** A message with `S` and `D/` filled in. */
export const messageFor = (message: string, scenario: string, sqlDir: string) =>
  message.replace(/^D\//, sqlDir).replace(/\bS:(\d)/g, `${scenario}:$1`);
