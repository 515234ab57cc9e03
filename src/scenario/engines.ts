/**
 * A scenario seen from one engine: which SQL and expectation apply to it, and what an engine the
 * scenario declares would lack.
 */
import { ENGINE_SQL, type EngineName } from '../vocabulary.js';
import type { Anomaly } from './schema.js';
import type { Expectation, Scenario, Sql, Step } from './model.js';

/** A place whose SQL (or expectation) does not cover an engine. */
export interface CoverageGap {
  readonly line: number;
  /** The place: `step a.lock`, `setup[0]`, `fix f: setup[1]`, `check "x"`, `expect`, ... */
  readonly where: string;
  readonly engine: EngineName;
  readonly missing: 'sql' | 'expectation';
}

/**
 * Every place whose SQL or expectation is missing for one of `engines`, in file order. `skip`
 * leaves out placeholders for malformed values (already reported as shape problems).
 */
export function coverageGaps(
  sc: Scenario,
  engines: readonly EngineName[],
  skip: { has(o: object): boolean } = new WeakSet(),
): CoverageGap[] {
  const gaps: CoverageGap[] = [];
  const need = (sql: Sql, where: string) => {
    if (skip.has(sql)) return;
    for (const engine of engines) if (sqlFor(sql, engine) === undefined) gaps.push({ line: sql.line, where, engine, missing: 'sql' });
  };
  const needExpect = (e: Expectation, where: string) => {
    if (skip.has(e)) return;
    for (const engine of engines)
      if (expectationFor(e, engine) === undefined) gaps.push({ line: e.line, where, engine, missing: 'expectation' });
  };
  for (const [i, s] of sc.setup.entries()) need(s, `setup[${i}]`);
  for (const [i, s] of sc.teardown.entries()) need(s, `teardown[${i}]`);
  const steps = (ws: readonly { steps: readonly Step[] }[], where: string) => {
    for (const w of ws) {
      for (const s of w.steps) {
        need(s.sql, `step ${s.worker}.${s.name}${where}`);
        for (const [k, c] of s.catch) if (c) need(c, `catch ${k} of ${s.worker}.${s.name}${where}`);
      }
    }
  };
  steps(sc.workers, '');
  for (const fix of sc.fixes) {
    for (const [i, s] of fix.setup.entries()) need(s, `fix ${fix.name}: setup[${i}]`);
    for (const r of fix.replace) if (!r.step) need(r.sql, `fix ${fix.name}: ${r.ref.worker}.${r.ref.step}`);
    steps(
      [...fix.replace.flatMap((r) => (r.step ? [r.step] : [])), ...fix.insert.map((i) => i.step)].map((s) => ({ steps: [s] })),
      ` (in fix ${fix.name})`,
    );
  }
  for (const c of sc.checks) need(c.sql, `check "${c.name}"`);
  needExpect(sc.expect, 'expect');
  for (const f of sc.fixes) needExpect(f.expect, `fix ${f.name}: expect`);
  return gaps.sort((a, b) => a.line - b.line);
}

/** A gap as a checker problem: `step a.lock has no SQL for mariadb`. */
export function gapMessage(g: CoverageGap): string {
  return g.missing === 'sql' ? `${g.where} has no SQL for ${g.engine}` : `${g.where} has no entry for ${g.engine}`;
}

/** Every SQL text (and expectation) must exist for every engine the scenario declares. */
export function engineCoverage(
  sc: Scenario,
  engines: readonly EngineName[],
  skip?: { has(o: object): boolean },
): { line: number; message: string }[] {
  return coverageGaps(sc, engines, skip).map((g) => ({ line: g.line, message: gapMessage(g) }));
}

/** The SQL for one engine: its own text (or that of an engine it takes SQL from), or the shared text. */
export function sqlFor(sql: Sql, engine: EngineName): string | undefined {
  if (sql.all !== undefined) return sql.all;
  return ownValue(sql.byEngine, engine);
}

/** A per-engine value: the engine's own (or that of an engine it takes SQL from), then `default`. */
export function forEngine<T>(by: Readonly<Partial<Record<EngineName | 'default', T>>>, engine: EngineName): T | undefined {
  return ownValue(by, engine) ?? by.default;
}

/** A per-engine value: the engine's own, or that of an engine it takes SQL from (no `default`). */
export function ownValue<T>(by: Readonly<Partial<Record<EngineName | 'default', T>>>, engine: EngineName): T | undefined {
  for (const key of ENGINE_SQL[engine].keys) if (by[key] !== undefined) return by[key];
  return undefined;
}

/** The expectation for one engine, with the same fallbacks as SQL, then `default`. */
export function expectationFor(e: Expectation, engine: EngineName): readonly Anomaly[] | undefined {
  return forEngine(e.byEngine, engine);
}
