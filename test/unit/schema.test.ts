// The published JSON Schema is generated from the zod schema and must not drift from it; it must
// also accept every built-in scenario as an editor would see it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { scenarioJsonSchema } from '../../src/scenario/schema.js';

test('schema/scenario.schema.json is what the zod schema generates (run `npm run schema` after changing it)', () => {
  const committed = JSON.parse(readFileSync('schema/scenario.schema.json', 'utf8'));
  assert.deepEqual(committed, JSON.parse(JSON.stringify(scenarioJsonSchema())));
});

test('the JSON Schema describes the top-level keys and forbids unknown ones', () => {
  const s = scenarioJsonSchema() as { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
  for (const k of ['name', 'title', 'story', 'setup', 'workers', 'schedule', 'checks', 'expect', 'fixes']) assert.ok(k in s.properties, k);
  assert.deepEqual([...s.required].sort(), ['expect', 'name', 'story', 'title', 'workers']);
  assert.equal(s.additionalProperties, false);
});
