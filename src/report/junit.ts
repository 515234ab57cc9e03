/**
 * JUnit XML for CI systems: one <testsuite> per scenario, one <testcase> per variant run, a
 * <failure> when the variant did not meet its expectation, holding the failed checks and the
 * variant's transcript; an <error> testcase where the scenario's own SQL failed. A run in which nothing ran (every
 * scenario skipped) fails, exit 1, so its report fails too: a "lockrepro" suite with one failed
 * testcase, "nothing ran", naming the skip reasons.
 */
import { nothingRan, type Report, type ScenarioReport } from './model.js';
import { TextReporter } from './text.js';

const plain = new TextReporter({ color: false, verbose: false });

export function toJUnit(report: Report): string {
  const suites = report.scenarios.map((s) => {
    const cases = s.variants.map((v) => {
      const p = v.run.plan;
      const name = `${p.fix ? `fix ${p.name}` : 'bug'} (${p.isolation})`;
      const saw = v.verdict.observed.join(', ') || 'clean';
      const want = p.expected.join(', ') || 'clean';
      const body = v.verdict.met
        ? ''
        : `<failure message="${esc([`expected ${want}, saw ${saw}`, ...v.verdict.waits.flatMap((w) => w.message ?? [])].join('; '))}" type="expectation">${esc(failureBody(v))}</failure>`;
      return `    <testcase classname="${esc(`lockrepro.${report.database.dialect}.${s.scenario.name}`)}" name="${esc(name)}" time="${(v.run.durationMs / 1000).toFixed(3)}">${body}</testcase>`;
    });
    if (s.error) cases.push(errorCase(report.database.dialect, s));
    const failures = s.variants.filter((v) => !v.verdict.met).length;
    const time = s.variants.reduce((t, v) => t + v.run.durationMs, 0) / 1000;
    return [
      `  <testsuite name="${esc(s.scenario.name)}" tests="${cases.length}" failures="${failures}" errors="${s.error ? 1 : 0}" time="${time.toFixed(3)}" file="${esc(s.scenario.file)}">`,
      ...cases,
      '  </testsuite>',
    ].join('\n');
  });
  // A skipped scenario is a suite with one skipped testcase, so CI shows it was not run.
  const skipped = (report.skipped ?? []).map((k) =>
    [
      `  <testsuite name="${esc(k.scenario.name)}" tests="1" failures="0" errors="0" skipped="1" time="0.000" file="${esc(k.scenario.file)}">`,
      `    <testcase classname="${esc(`lockrepro.${report.database.dialect}.${k.scenario.name}`)}" name="skipped" time="0.000"><skipped message="${esc(k.reason)}"/></testcase>`,
      '  </testsuite>',
    ].join('\n'),
  );
  const none = nothingRan(report) ? [nothingRanSuite(report)] : [];
  const errors = report.scenarios.filter((s) => s.error).length;
  const tests = report.scenarios.reduce((n, s) => n + s.variants.length, 0) + errors + skipped.length + none.length;
  const failures = report.scenarios.reduce((n, s) => n + s.variants.filter((v) => !v.verdict.met).length, 0) + none.length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="lockrepro" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped.length}">\n${[...none, ...suites, ...skipped].join('\n')}\n</testsuites>\n`;
}

/** The failed testcase of a run in which nothing ran, with the message `run` ends with. */
function nothingRanSuite(report: Report): string {
  const dialect = report.database.dialect;
  const skipped = report.skipped ?? [];
  const message =
    skipped.length > 0
      ? `nothing ran: ${skipped.map((k) => k.scenario.name).join(', ')} skipped on ${dialect} (${skipped.map((k) => k.reason).join('; ')})`
      : 'nothing ran';
  const reasons = skipped.map((k) => `${k.scenario.file}: skipped: ${k.reason}`).join('\n');
  return [
    '  <testsuite name="lockrepro" tests="1" failures="1" errors="0" time="0.000">',
    `    <testcase classname="${esc(`lockrepro.${dialect}`)}" name="nothing ran" time="0.000"><failure message="${esc(message)}" type="nothing-ran">${esc(reasons)}</failure></testcase>`,
    '  </testsuite>',
  ].join('\n');
}

/** The failed checks, then the variant's whole transcript: what a CI page needs to see why. */
function failureBody(v: ScenarioReport['variants'][number]): string {
  const checks = v.verdict.checks
    .filter((c) => !c.passed)
    .map((c) => `${c.name}: ${c.error ?? `expected ${JSON.stringify(c.expected)}, got ${JSON.stringify(c.actual)}`}`);
  return [...checks, plain.variant(v).replace(/^\n/, '')].join('\n');
}

/** The scenario's own SQL failed: a JUnit error (the test is broken), not a failure (a finding). */
function errorCase(dialect: string, s: ScenarioReport): string {
  const e = s.error!;
  return `    <testcase classname="${esc(`lockrepro.${dialect}.${s.scenario.name}`)}" name="scenario SQL" time="0.000"><error message="${esc(`${e.file}:${e.line}: ${e.message}`)}" type="${esc(e.kind)}"/></testcase>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
