/**
 * Scenario × engine × variant × isolation level → runnable plans: SQL resolved for the engine,
 * `:name` references turned into the dialect's placeholders, the expectation for this engine.
 */
import { ENGINE_SQL, ENGINES, type EngineName, type ErrorKind, type IsolationLevel } from '../vocabulary.js';
import { coverageGaps, engineCoverage, expectationFor, forEngine, ownValue, sqlFor } from '../scenario/engines.js';
import type { Check, Scenario, Sql, Step, StepRef } from '../scenario/model.js';
import { parseParams } from '../scenario/params.js';
import { statementsFor } from '../scenario/sql-files.js';
import type { Problem } from '../scenario/parse.js';
import type { Anomaly } from '../scenario/schema.js';
import { bugShape, fixShape, type VariantShape } from '../scenario/variants.js';

/** A statement ready for one engine: the text as written and as sent. */
export interface PlannedSql {
  /** As written in the scenario, with `:name` references (what the transcript shows). */
  readonly source: string;
  /** As sent, with the dialect's placeholders. */
  readonly text: string;
  /** Saved names bound to the placeholders, in order. */
  readonly params: readonly string[];
}

/** Setup/teardown SQL with the line it came from, for errors while running it. */
export interface LocatedSql {
  readonly sql: string;
  readonly line: number;
  /** A statement of a `{ file: … }` entry: that file (as shown), `line` being its line there. */
  readonly file?: string;
}

export interface PlannedStep {
  readonly worker: string;
  readonly name: string;
  readonly sql: PlannedSql;
  /** The line of its SQL in the scenario file (a fix's replacement: the fix's line). */
  readonly line: number;
  readonly save: string | readonly string[] | null;
  readonly catch: ReadonlyMap<ErrorKind, PlannedSql | null>;
  readonly expectRows: number | null;
  /** Must wait on another worker's lock (true), must never wait (false), or not said (null). */
  readonly waits: boolean | null;
  readonly note: string | null;
}

export interface PlannedCheck {
  readonly name: string;
  readonly line: number;
  readonly sql: string;
  readonly expect: Check['expect'];
  readonly anomaly: Check['anomaly'];
}

export interface VariantPlan {
  readonly scenario: Scenario;
  /** `bug` or the fix's name. */
  readonly name: string;
  readonly fix: boolean;
  readonly title: string | null;
  readonly story: string | null;
  readonly engine: EngineName;
  readonly isolation: IsolationLevel;
  /**
   * True when --isolation asked for other levels and this fix kept its own: a fix that names its
   * level is about that level (serializable-retry makes no sense at read committed).
   */
  readonly ownIsolationKept: boolean;
  /** The level the engine really runs `isolation` as, when it differs (PostgreSQL: read uncommitted). */
  readonly runsAs: IsolationLevel | null;
  /** The scenario's setup, then the fix's own. */
  readonly setup: readonly LocatedSql[];
  /** The fix's own setup SQL (also in `setup`), shown with the fix. */
  readonly fixSetup: readonly string[];
  readonly teardown: readonly LocatedSql[];
  readonly workers: readonly { readonly name: string; readonly steps: readonly PlannedStep[] }[];
  readonly schedule: readonly { readonly worker: string; readonly step: string }[];
  readonly checks: readonly PlannedCheck[];
  /** Expected anomalies; empty means clean. */
  readonly expected: readonly Anomaly[];
  readonly retry: { readonly on: readonly ErrorKind[]; readonly attempts: number } | null;
  /**
   * Why this engine behaves as it does (the scenario's or fix's note for the engine), or null.
   * Notes are written for the variant's own isolation level: null when run at another one.
   */
  readonly engineNote: string | null;
  readonly timeoutMs: number | null;
}

export interface PlanOptions {
  engine: EngineName;
  placeholder: (n: number) => string;
  /** Variant names to run (`bug` and fix names); default all. */
  variants?: readonly string[];
  /** Isolation levels to run each variant at (a fix with its own level keeps it); default the variant's own. */
  isolations?: readonly IsolationLevel[];
  /** Levels the engine accepts but runs as another (the dialect's `info.runsAs`). */
  runsAs?: Partial<Record<IsolationLevel, IsolationLevel>>;
}

/**
 * Why a scenario does not run on `engine`, or null when it does. The one place that decides it:
 * `run` skips with this reason, planning refuses with it.
 *
 * - With `engines:`, the scenario runs on those engines. `mysql` covers MariaDB too: MariaDB is a
 *   MySQL fork, and a scenario's MySQL SQL, notes and expectations already apply to it (see
 *   sqlFor/forEngine). The checker makes sure the SQL covers every declared engine.
 * - Without, it runs on every engine its SQL (and expectations) cover; the reason names the
 *   first place, in file order, that has nothing for `engine`.
 */
export function engineSkipReason(sc: Scenario, engine: EngineName): string | null {
  const declared = declaredSkipReason(sc, engine);
  if (declared || sc.engines) return declared;
  const [gap] = coverageGaps(sc, [engine]);
  if (!gap) return null;
  return `${sc.name} has no ${gap.missing === 'sql' ? 'SQL' : 'expectation'} for ${engine} (${gap.where}, line ${gap.line})`;
}

function declaredSkipReason(sc: Pick<Scenario, 'name' | 'engines' | 'notes'>, engine: EngineName): string | null {
  if (!sc.engines) return null;
  if (sc.engines.some((e) => ENGINE_SQL[engine].keys.includes(e))) return null;
  // A note for an engine the scenario leaves out says why it does.
  const why = forEngine(sc.notes, engine);
  return `${sc.name} supports ${sc.engines.join(', ')}, not ${engine}${why ? `: ${why}` : ''}`;
}

/**
 * The engines a scenario runs on: those it declares (`mysql` also covers MariaDB, as its SQL key
 * does), or else every engine its SQL covers.
 */
export function scenarioEngines(sc: Scenario): EngineName[] {
  return ENGINES.filter((e) => engineSkipReason(sc, e) === null);
}

export type PlanResult = { plans: VariantPlan[]; problems: [] } | { plans: []; problems: Problem[] };

export function planScenario(sc: Scenario, opts: PlanOptions): PlanResult {
  const problems: Problem[] = [];
  const problem = (line: number, message: string) => problems.push({ file: sc.file, line, message });
  const { engine } = opts;

  // Planned anyway for an engine the scenario does not declare: refused. For an engine its SQL
  // does not cover (`run` skips those first), every place that lacks SQL, with its line.
  const skip = declaredSkipReason(sc, engine);
  if (skip) {
    problem(1, `scenario ${skip}`);
    return { plans: [], problems };
  }
  for (const p of engineCoverage(sc, [engine])) problem(p.line, p.message);
  const known = ['bug', ...sc.fixes.map((f) => f.name)];
  for (const v of opts.variants ?? []) {
    if (!known.includes(v)) problem(1, `scenario ${sc.name} has no variant "${v}" (variants: ${known.join(', ')})`);
  }
  if (problems.length > 0) return { plans: [], problems };

  // The files were split when the scenario was checked; an engine it does not declare is split here.
  const statements = (entries: readonly Sql[]): LocatedSql[] =>
    entries.flatMap((s) => {
      const r = statementsFor(s, engine);
      if ('statements' in r) return r.statements;
      problems.push(r.problem);
      return [];
    });
  const resolve = (sql: Sql): PlannedSql => {
    const source = sqlFor(sql, engine)!;
    const p = parseParams(source, engine);
    return { source, text: p.render(opts.placeholder), params: p.names };
  };
  const planStep = (s: Step): PlannedStep => ({
    worker: s.worker,
    name: s.name,
    sql: resolve(s.sql),
    line: s.sql.line,
    save: s.save,
    catch: new Map([...s.catch].map(([k, v]) => [k, v ? resolve(v) : null])),
    expectRows: s.expectRows,
    waits: s.waits,
    note: s.note,
  });
  const wanted = (name: string) => !opts.variants || opts.variants.length === 0 || opts.variants.includes(name);

  const variants: { name: string; shape: VariantShape; fix: Scenario['fixes'][number] | null }[] = [];
  if (wanted('bug')) variants.push({ name: 'bug', shape: bugShape(sc), fix: null });
  for (const fix of sc.fixes) if (wanted(fix.name)) variants.push({ name: fix.name, shape: fixShape(sc, fix).shape, fix });

  const plans: VariantPlan[] = [];
  for (const v of variants) {
    const own = v.fix?.isolation ?? forEngine(sc.isolation, engine) ?? 'read-committed';
    const asked = opts.isolations && opts.isolations.length > 0 ? opts.isolations : null;
    // --isolation runs the bug and the fixes that name no level at the levels asked; a fix that
    // names its own level is run at it, once, and says so.
    const fixLevel = v.fix?.isolation ?? null;
    const kept = asked !== null && fixLevel !== null && asked.some((l) => l !== own);
    for (const isolation of asked === null || fixLevel !== null ? [own] : asked) {
      plans.push({
        scenario: sc,
        name: v.name,
        fix: v.fix !== null,
        title: v.fix?.title ?? null,
        story: v.fix?.story ?? null,
        engine,
        isolation,
        ownIsolationKept: kept,
        runsAs: opts.runsAs?.[isolation] ?? null,
        setup: statements([...sc.setup, ...(v.fix?.setup ?? [])]),
        fixSetup: (v.fix?.setup ?? []).map((s) =>
          s.file ? `file ${ownValue(s.file.byEngine, engine) ?? s.file.all}` : sqlFor(s, engine)!,
        ),
        teardown: statements(sc.teardown),
        workers: v.shape.workers.map((w) => ({ name: w.name, steps: w.steps.map(planStep) })),
        schedule: v.shape.schedule.map((r: StepRef) => ({ worker: r.worker, step: r.step })),
        checks: sc.checks.map((c) => ({
          name: c.name,
          line: c.sql.line,
          sql: sqlFor(c.sql, engine)!,
          expect: c.expect,
          anomaly: c.anomaly,
        })),
        expected: [...(expectationFor(v.fix ? v.fix.expect : sc.expect, engine) ?? [])],
        retry: v.fix?.retry ?? null,
        // The scenario's note explains the bug on this engine; a fix may explain itself. Either
        // speaks of the variant's own isolation level, so it is left out at another (--isolation).
        engineNote: isolation === own ? ((v.fix ? forEngine(v.fix.notes, engine) : forEngine(sc.notes, engine)) ?? null) : null,
        timeoutMs: sc.timeoutMs,
      });
    }
  }
  return problems.length > 0 ? { plans: [], problems } : { plans, problems: [] };
}
