/**
 * `--html`: one self-contained page (inline CSS and SVG; no script, no font or image fetched), for a
 * workshop's projector or a CI artifact. Per scenario the bug, then each fix, clearly labelled; per
 * variant a timeline (timeline.ts), the deadlocks the database broke, the checks and the verdict.
 * A pure function of the Report, deterministic: no timings, PIDs or dates.
 */
import type { VariantReport } from '../modes/run-modes.js';
import { expectText, oneLine } from './format.js';
import { nothingRan, reportOk, type Report, type ScenarioReport } from './model.js';
import { cycleText, esc, timelineSvg, WORKER_COLOURS } from './timeline.js';

export function toHtml(report: Report): string {
  const ok = reportOk(report);
  const db = report.database;
  const names = report.scenarios.map((s) => s.scenario.name).join(', ') || 'nothing ran';
  const body: string[] = [
    `<header><h1>lockrepro · ${esc(names)}</h1>`,
    `<p class="db">database: ${esc(`${db.dialect} ${db.version}${db.embedded ? ' (embedded)' : ''}`)}</p>`,
    `<p class="overall ${ok ? 'pass' : 'fail'}">${ok ? '✓ every expectation met' : nothingRan(report) ? '✗ nothing ran' : '✗ some expectations were not met'}</p>`,
    legend(),
    '</header>',
  ];
  let n = 0;
  for (const s of report.scenarios) body.push(scenarioHtml(s, () => `t${n++}`));
  for (const k of report.skipped ?? []) {
    body.push(`<section class="scenario skipped"><h2>${esc(k.scenario.name)}: skipped</h2><p>${esc(k.reason)}</p></section>`);
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lockrepro · ${esc(names)}</title>
<style>${CSS}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}

function scenarioHtml(s: ScenarioReport, nextId: () => string): string {
  const sc = s.scenario;
  const workers = sc.workers.map((w) => w.name);
  const out = [
    `<section class="scenario" data-scenario="${esc(sc.name)}">`,
    `<h2>${esc(sc.name)} <span class="title">· ${esc(sc.title)}</span></h2>`,
  ];
  for (const seed of sc.seed) out.push(`<p class="seed">retells seed ${esc(seed)}</p>`);
  out.push(`<p class="story">${esc(oneLine(sc.story))}</p>`);
  out.push(
    `<p class="workers">${workers.map((w, i) => `<span class="chip" style="background:${WORKER_COLOURS[i % WORKER_COLOURS.length]}">${esc(w)}</span>`).join(' ')}</p>`,
  );
  for (const v of s.variants) out.push(variantHtml(v, workers, nextId()));
  if (s.error) {
    out.push(
      `<div class="scenario-error">✗ the scenario's own SQL failed at ${esc(`${s.error.file}:${s.error.line}`)}: ${esc(s.error.message)}<br>its remaining variants were not run</div>`,
    );
  }
  out.push('</section>');
  return out.join('\n');
}

function variantHtml(v: VariantReport, workers: readonly string[], id: string): string {
  const { run, verdict } = v;
  const p = run.plan;
  const kind = p.fix ? 'fix' : 'bug';
  const out = [`<article class="variant ${kind}" data-variant="${esc(p.name)}">`];
  out.push(
    `<h3><span class="badge ${kind}">${p.fix ? 'FIX' : 'BUG'}</span> ${esc(p.fix ? p.name : 'the bug')} <span class="meta">· ${esc(p.isolation.replace('-', ' '))}${p.runsAs ? ` (runs as ${esc(p.runsAs)})` : ''}${p.ownIsolationKept ? " (the fix's own level)" : ''} · expect ${esc(expectText(p.expected))}</span></h3>`,
  );
  if (p.title) out.push(`<p class="vtitle">${esc(p.title)}</p>`);
  if (p.story) out.push(`<p class="story">${esc(oneLine(p.story))}</p>`);
  for (const sql of p.fixSetup) out.push(`<p class="setup">+ setup: <code>${esc(oneLine(sql))}</code></p>`);
  if (p.retry)
    out.push(`<p class="setup">on ${esc(p.retry.on.join(' or '))} the worker rolls back and retries, up to ${p.retry.attempts} times</p>`);
  const ex = v.explored;
  if (ex) {
    const which =
      v.mode === 'stress'
        ? `run ${ex.shown.rank + 1n} of ${ex.runs} (workers released together)`
        : `interleaving ${ex.shown.rank + 1n} of ${ex.total}`;
    out.push(`<p class="explored">shown: ${esc(which)}; ${ex.failing} of ${ex.runs} runs showed an anomaly</p>`);
  }
  out.push(`<div class="timeline-box">${timelineSvg(run, workers, id)}</div>`);

  for (const d of run.deadlocks) {
    out.push(
      `<div class="deadlock" data-victim="${esc(d.victim)}"><p><strong>☠ deadlock</strong>${d.cycle.length >= 2 ? `: cycle ${esc(cycleText(d.cycle).slice(2))}` : ''}; victim: <strong class="victim-name">${esc(d.victim)}</strong></p>`,
    );
    if (d.server) out.push(`<details open><summary>the database's own report</summary><pre>${esc(d.server)}</pre></details>`);
    out.push('</div>');
  }
  if (verdict.checks.length > 0) {
    out.push('<ul class="checks">');
    for (const c of verdict.checks) {
      const detail = c.error
        ? `cannot be checked: ${c.error}`
        : c.passed
          ? valueText(c.actual)
          : `expected ${valueText(c.expected)}, got ${valueText(c.actual)}${verdict.notCounted[c.name] ? `: ${verdict.notCounted[c.name]}` : ` → ${c.anomaly}`}`;
      out.push(
        `<li class="check ${c.passed ? 'pass' : 'fail'}" data-check="${esc(c.name)}"><span class="mark">${c.passed ? '✓' : '✗'}</span> <span class="check-name">${esc(c.name)}</span>: ${esc(detail)}</li>`,
      );
    }
    out.push('</ul>');
  }
  if (p.engineNote) out.push(`<p class="note">on ${esc(p.engine)}: ${esc(oneLine(p.engineNote))}</p>`);
  const handled =
    verdict.handledErrors > 0 && verdict.observed.length === 0
      ? ` (after ${verdict.handledErrors} handled error${verdict.handledErrors > 1 ? 's' : ''})`
      : '';
  const waits = verdict.waits.flatMap((w) => w.message ?? []);
  const line = `saw ${expectText(verdict.observed)}${handled}; expected ${expectText(p.expected)}${waits.map((m) => `; ${m}`).join('')}`;
  out.push(`<p class="verdict ${verdict.met ? 'pass' : 'fail'}">${esc(line)} ${verdict.met ? '✓ as expected' : '✗ NOT as expected'}</p>`);
  out.push('</article>');
  return out.join('\n');
}

function valueText(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v));
}

function legend(): string {
  return `<p class="legend"><span class="key wait"></span> waited on a lock, from sending the step until it finished · <span class="key arrow">→</span> whom it waited for · <span class="key victim"></span> deadlock victim / error · <span class="key notrun"></span> not run · rows follow the order of events, not time</p>`;
}

// System fonts only (nothing fetched); sizes for a projector; contrast above WCAG AA.
const CSS = `
*{box-sizing:border-box}
body{margin:0 auto;max-width:1240px;padding:16px 20px 48px;font:20px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111827;background:#fff}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
svg text.mono,code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
svg text.halo{paint-order:stroke;stroke:#fff;stroke-width:5px;stroke-linejoin:round}
h1{font-size:32px;margin:8px 0}
h2{font-size:28px;margin:28px 0 6px;border-bottom:4px solid #111827}
h2 .title{font-weight:500}
h3{font-size:25px;margin:0 0 6px}
.meta{font-weight:500;color:#374151;font-size:20px}
.db,.seed,.story,.setup,.explored,.note,.vtitle{margin:4px 0;color:#1f2937}
.seed{color:#4b5563;font-style:italic}
.vtitle{font-weight:700}
.overall,.verdict{font-weight:800;font-size:24px;padding:8px 14px;border-radius:8px;margin:10px 0}
.pass{color:#065f46}.fail{color:#991b1b}
.overall.pass,.verdict.pass{background:#d1fae5;border:3px solid #047857}
.overall.fail,.verdict.fail{background:#fee2e2;border:3px solid #b91c1c}
.chip{display:inline-block;color:#fff;font-weight:700;padding:2px 14px;border-radius:999px}
.variant{border:3px solid #d1d5db;border-radius:12px;padding:14px 16px;margin:18px 0}
.variant.bug{border-left:14px solid #b91c1c}
.variant.fix{border-left:14px solid #047857}
.badge{display:inline-block;color:#fff;padding:1px 12px;border-radius:6px;font-size:22px;letter-spacing:1px}
.badge.bug{background:#b91c1c}.badge.fix{background:#047857}
.timeline-box{margin:10px 0;border:1px solid #e5e7eb;border-radius:8px;background:#fafafa}
.timeline{display:block}
.deadlock{border:3px solid #b91c1c;background:#fff1f2;border-radius:8px;padding:8px 14px;margin:10px 0}
.deadlock p{margin:0}
.deadlock pre{white-space:pre-wrap;font-size:17px;margin:6px 0 0;background:#fff;padding:8px;border-radius:6px;border:1px solid #fecaca}
summary{cursor:pointer;font-weight:600}
.checks{list-style:none;padding:0;margin:10px 0}
.check{padding:4px 0}
.check .mark{display:inline-block;width:1.4em;font-weight:900}
.check-name{font-weight:700}
.scenario-error{color:#991b1b;font-weight:700;border:3px solid #b91c1c;padding:10px;border-radius:8px}
.legend{font-size:17px;color:#374151}
.key{display:inline-block;width:22px;height:16px;vertical-align:middle;border-radius:3px}
.key.wait{background:repeating-linear-gradient(45deg,#fde68a 0 4px,#b45309 4px 7px)}
.key.arrow{width:auto;height:auto;color:#b45309;font-weight:900}
.key.victim{background:#fee2e2;border:3px solid #b91c1c}
.key.notrun{background:#f3f4f6;border:2px dashed #9ca3af}
@media print{.variant{break-inside:avoid}}
`;
