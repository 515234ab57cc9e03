/**
 * `lockrepro matrix`: each scenario's bug at every isolation level, on one database. A question,
 * not a test: a cell says what the run showed (the observed anomalies, or none), and a level where
 * the bug does not show is an answer, not a failure. The CLI runs this once per database and
 * renders the cells (src/report/matrix.ts).
 */
import type { DatabaseInfo, Dialect } from '../engine/dialect.js';
import { RunAborted, SetupFailed, type RunOptions } from '../engine/run.js';
import type { VariantRun } from '../engine/result.js';
import type { Anomaly } from '../scenario/schema.js';
import type { Scenario } from '../scenario/model.js';
import type { Problem } from '../scenario/parse.js';
import { engineSkipReason, planScenario } from '../plan/plan.js';
import { ISOLATION_LEVELS, type IsolationLevel } from '../vocabulary.js';
import { runScheduled } from './run-modes.js';

export interface MatrixCell {
  readonly scenario: Scenario;
  readonly database: DatabaseInfo;
  readonly isolation: IsolationLevel;
  /** The level the engine really ran (PostgreSQL runs read-uncommitted as read-committed), or null. */
  readonly runsAs: IsolationLevel | null;
  /**
   * `ran`: `observed` holds what showed ([] is clean). `n/a`: the scenario leaves this engine out
   * (`reason`). `error`: the scenario's own SQL failed (`error`), nothing to read from the cell.
   */
  readonly status: 'ran' | 'n/a' | 'error';
  readonly observed: readonly Anomaly[];
  /** Server codes behind an observed `error` (an error of no named kind, none caught), in order. */
  readonly errorCodes: readonly string[];
  readonly reason?: string;
  readonly error?: { readonly file: string; readonly line: number; readonly code: string; readonly message: string };
}

export interface MatrixOptions extends RunOptions {
  /** Levels to ask about; default every level lockrepro knows. */
  readonly isolations?: readonly IsolationLevel[];
  /** Called after each cell, for progress. */
  readonly onCell?: (cell: MatrixCell) => void;
}

/**
 * Plan every scenario's bug at every level on this database: problems (a scenario that cannot be
 * planned here) before anything runs, as `run` does.
 */
export function matrixProblems(scenarios: readonly Scenario[], dialect: Dialect): Problem[] {
  return scenarios.flatMap((sc) => (engineSkipReason(sc, dialect.info.dialect) ? [] : plan(sc, dialect, ISOLATION_LEVELS).problems));
}

/** The cells of one database, scenario by scenario, level by level. */
export async function runMatrix(scenarios: readonly Scenario[], dialect: Dialect, opts: MatrixOptions = {}): Promise<MatrixCell[]> {
  const levels = opts.isolations && opts.isolations.length > 0 ? opts.isolations : ISOLATION_LEVELS;
  const database = dialect.info;
  const cells: MatrixCell[] = [];
  const add = (c: MatrixCell) => {
    cells.push(c);
    opts.onCell?.(c);
  };
  for (const scenario of scenarios) {
    const skip = engineSkipReason(scenario, database.dialect);
    if (skip) {
      for (const isolation of levels)
        add({
          scenario,
          database,
          isolation,
          runsAs: database.runsAs?.[isolation] ?? null,
          status: 'n/a',
          observed: [],
          errorCodes: [],
          reason: skip,
        });
      continue;
    }
    const planned = plan(scenario, dialect, levels);
    // matrixProblems refused these before any run; an internal slip if one gets here.
    if (planned.problems.length > 0) throw new Error(`matrix: ${scenario.name} was not checked before running`);
    for (const p of planned.plans) {
      // Ctrl-C between cells: no new scratch database.
      if (opts.signal?.aborted) throw new RunAborted();
      const base = { scenario, database, isolation: p.isolation, runsAs: p.runsAs };
      try {
        const v = await runScheduled(dialect, p, opts);
        const fault = v.verdict.fault;
        // A step or check the server calls wrong (a typo) is the scenario's fault, not a finding.
        if (fault)
          add({
            ...base,
            status: 'error',
            observed: [],
            errorCodes: [],
            error: { file: scenario.file, line: fault.line, code: fault.code, message: fault.message },
          });
        else add({ ...base, status: 'ran', observed: v.verdict.observed, errorCodes: unnamedErrors(v.run) });
      } catch (e) {
        if (!(e instanceof SetupFailed)) throw e;
        const code = 'code' in e.error ? e.error.code : 'error';
        add({
          ...base,
          status: 'error',
          observed: [],
          errorCodes: [],
          error: { file: e.file, line: e.line, code, message: e.message },
        });
      }
    }
  }
  return cells;
}

/** What an `error` anomaly was: the codes of unhandled errors detect/ has no anomaly name for. */
function unnamedErrors(run: VariantRun): string[] {
  const codes = run.steps.flatMap((s) =>
    s.error && !s.handled && !s.hang && (s.error.kind === 'other' || s.error.kind === 'timeout') ? [s.error.code] : [],
  );
  return [...new Set(codes)];
}

function plan(sc: Scenario, dialect: Dialect, isolations: readonly IsolationLevel[]) {
  return planScenario(sc, {
    engine: dialect.info.dialect,
    placeholder: (n) => dialect.placeholder(n),
    variants: ['bug'],
    isolations,
    runsAs: dialect.info.runsAs,
  });
}
