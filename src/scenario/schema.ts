/**
 * The scenario file format, version 1. This zod schema is the single source of the TypeScript
 * types (`ScenarioInput`), of validation (src/scenario/check.ts), and of the published JSON Schema
 * (`schema/scenario.schema.json`, written by `npm run schema`). docs/scenario-format.md explains it.
 */
import { z } from 'zod';
import { ENGINES, ERROR_KINDS, ISOLATION_LEVELS, type EngineName } from '../vocabulary.js';

// zod compiles a fast parser for each object schema (new Function) the first time it parses one:
// worth it for a server parsing millions of values, pure cost for a command that parses a few
// files once (and code made by new Function is in no code cache).
z.config({ jitless: true });

/** Anomalies a variant can be expected to show. `clean` means none. */
export const ANOMALIES = [
  'deadlock',
  'lost-update',
  'duplicates',
  'invariant',
  'serialization',
  'lock-timeout',
  'unique-violation',
  'hang',
  'error',
] as const;
export type Anomaly = (typeof ANOMALIES)[number];

/** What a failing check means. */
export const CHECK_ANOMALIES = ['lost-update', 'duplicates', 'invariant'] as const;

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const name = (what: string) => z.string().regex(NAME, `${what} must start with a letter and use only letters, digits, '_' and '-'`);
export const stepRefSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z][A-Za-z0-9_-]*$/, 'a step reference is written worker.step');

const engineEnum = z.enum(ENGINES);
const isolation = z.enum(ISOLATION_LEVELS);

/** `{ postgres?, mysql?, mariadb? }`, each a `value`. */
function perEngine<T extends z.ZodType>(value: T) {
  const shape = Object.fromEntries(ENGINES.map((e) => [e, value.optional()])) as Record<EngineName, z.ZodOptional<T>>;
  return z.strictObject(shape);
}

/** SQL text, or per-engine SQL (`mysql` also serves MariaDB unless `mariadb` is given). */
export const sqlSchema = z.union([
  z.string().min(1, 'SQL must not be empty'),
  perEngine(z.string().min(1)).describe('Per-engine SQL: `mysql` serves MariaDB too unless `mariadb` is given.'),
]);

/** Statements from files, relative to the scenario file: one for every engine, or one per engine. */
export const sqlFileSchema = z
  .strictObject({
    file: z.union([
      z.string().min(1, 'a file path must not be empty'),
      perEngine(z.string().min(1, 'a file path must not be empty')).describe('Per-engine files: `mysql` serves MariaDB too.'),
    ]),
  })
  .describe(
    "SQL statements read from a file (a migration, a schema dump), split where the engine's own client would: quotes, comments, dollar quotes, MySQL DELIMITER.",
  );

/** A setup or teardown entry: SQL, or `{ file: … }`. */
export const setupEntrySchema = z.union([...sqlSchema.options, sqlFileSchema]);

const expectOne = z.enum([...ANOMALIES, 'clean'] as const);
const expectValue = z.union([expectOne, z.array(z.enum(ANOMALIES)).min(1)]);
/** An expectation, or one per engine (`mysql` serves MariaDB too; `default` the rest). */
export const expectSchema = z.union([expectValue, perEngine(expectValue).extend({ default: expectValue.optional() })]);

const perEngineText = perEngine(z.string());

const scalar = z.union([z.number(), z.string(), z.boolean(), z.null()]);

export const stepSchema = z.strictObject({
  name: name('a step name'),
  sql: sqlSchema,
  save: z
    .union([name('a saved name'), z.array(name('a saved name')).min(1)])
    .optional()
    .describe('Save from the first row: a name saves the first column under that name; a list saves those columns by name.'),
  catch: z
    .union([z.array(z.enum(ERROR_KINDS)).min(1), z.partialRecord(z.enum(ERROR_KINDS), z.union([sqlSchema, z.null()]))])
    .optional()
    .describe('Errors the application handles: the worker goes on. A map gives recovery SQL to run first, e.g. ROLLBACK TO SAVEPOINT.'),
  expectRows: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'The application checks the row count (optimistic locking): any other count is a conflict it raises, of kind serialization, which a fix may retry.',
    ),
  waits: z
    .boolean()
    .optional()
    .describe(
      "An expectation on the step: true, it must wait on another worker's lock at least once; false, it must never wait (SKIP LOCKED, NOWAIT, a fix that takes no lock). A step that breaks it fails the variant.",
    ),
  note: z.string().optional().describe('One line shown in the transcript: what the application does here.'),
});

/** A fix's new version of a step: the whole step but its name (which stays the replaced one's). */
export const replacementStepSchema = stepSchema.omit({ name: true });

const insertSchema = z
  .strictObject({
    after: stepRefSchema.optional(),
    before: stepRefSchema.optional(),
    step: stepSchema,
  })
  .describe('A step added to the worker named in `after`/`before`, placed there in its worker and the schedule.');

export const checkSchema = z.strictObject({
  name: z.string().min(1),
  sql: sqlSchema,
  expect: z
    .union([scalar, z.array(z.record(z.string(), scalar))])
    .describe('A value compared with the first column of the first row, or the exact list of rows.'),
  anomaly: z.enum(CHECK_ANOMALIES).default('invariant').describe('What a failure of this check means.'),
});

export const fixSchema = z.strictObject({
  title: z.string().optional(),
  story: z.string().optional(),
  setup: z
    .array(setupEntrySchema)
    .optional()
    .describe("More setup SQL for this fix only, run after the scenario's (a migration: a constraint, an index, a column)."),
  replace: z
    .record(stepRefSchema, z.union([...sqlSchema.options, replacementStepSchema]))
    .optional()
    .describe(
      'Existing steps, by worker.step, changed in place: new SQL (the step keeps its save, catch, expectRows and waits), or a whole new step (a mapping with sql:; nothing of the old step is kept but its name and place).',
    ),
  insert: z.array(insertSchema).optional(),
  remove: z.array(stepRefSchema).optional(),
  schedule: z
    .array(stepRefSchema)
    .optional()
    .describe("This fix's own order of preference for its steps (after replace, insert and remove): every step once."),
  isolation: isolation.optional().describe("The fix's own isolation level, for every worker; kept under --isolation (the report says so)."),
  retry: z
    .strictObject({
      on: z.array(z.enum(ERROR_KINDS)).min(1),
      attempts: z.number().int().min(1).max(10).default(3),
    })
    .optional()
    .describe("Restart a worker's whole transaction (after rollback) on these error kinds, up to `attempts` times."),
  expect: expectSchema.default('clean'),
  notes: perEngineText.optional(),
});

export const scenarioSchema = z.strictObject({
  $schema: z.string().optional(),
  name: name('the scenario name'),
  title: z.string().min(1),
  seed: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .describe('The real story (or stories) this scenario retells.'),
  story: z.string().min(1),
  engines: z
    .array(engineEnum)
    .min(1)
    .optional()
    .describe(
      'Engines this scenario supports, each needing SQL everywhere (mysql covers mariadb). Default: every engine its SQL covers; other engines skip it.',
    ),
  isolation: z
    .union([isolation, perEngine(isolation)])
    .default('read-committed')
    .describe("Isolation level for every worker, or one per engine (e.g. each engine's own default)."),
  timeout: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .optional()
    .describe(
      "Per-step timeout in ms: a step still running by then (not waiting on another worker's lock), or waiting while nothing else can move, is a hang.",
    ),
  setup: z.array(setupEntrySchema).default([]),
  teardown: z.array(setupEntrySchema).default([]),
  workers: z
    .record(name('a worker name'), z.array(stepSchema).min(1, 'a worker needs at least one step'))
    .refine((w) => Object.keys(w).length >= 1, 'at least one worker is needed'),
  schedule: z.array(stepRefSchema).optional().describe("Order of preference for the steps; default: round robin over the workers' steps."),
  checks: z.array(checkSchema).default([]),
  expect: expectSchema,
  notes: perEngineText.optional().describe('Why this engine behaves as it does, shown in its report.'),
  fixes: z.record(name('a fix name'), fixSchema).default({}),
});

export type ScenarioInput = z.output<typeof scenarioSchema>;
export type StepInput = z.output<typeof stepSchema>;
export type SqlInput = z.output<typeof sqlSchema>;
export type ExpectInput = z.output<typeof expectSchema>;
export type FixInput = z.output<typeof fixSchema>;
export type CheckInput = z.output<typeof checkSchema>;

/** The JSON Schema published for editors (`# yaml-language-server: $schema=...`). */
export function scenarioJsonSchema(): unknown {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $id: 'https://lockrepro.dev/schema/scenario.schema.json',
    title: 'lockrepro scenario',
    ...schema,
  };
}
