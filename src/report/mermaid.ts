/**
 * `--mermaid`: a Markdown file with one Mermaid `sequenceDiagram` per variant (participants: the
 * workers and the database), for slides and docs. Markdown because one file holds several
 * diagrams and renders as is on GitHub and in most doc tools. Like every reporter, a pure function
 * of the Report, in event order, with no timings.
 */
import type { RunEvent, VariantRun } from '../engine/result.js';
import { expectText, lockText, oneLine } from './format.js';
import type { Report } from './model.js';
import { cycleText, outcomeText } from './timeline.js';

const MAX_SQL = 70;

export function toMermaid(report: Report): string {
  const out = [`# lockrepro: ${report.database.dialect} ${report.database.version}`, ''];
  for (const s of report.scenarios) {
    out.push(`## ${s.scenario.name}: ${oneLine(s.scenario.title)}`, '');
    const workers = s.scenario.workers.map((w) => w.name);
    for (const v of s.variants) {
      const p = v.run.plan;
      out.push(
        `### ${p.fix ? `fix ${p.name}` : 'bug'} (${p.isolation}): saw ${expectText(v.verdict.observed)}, expected ${expectText(p.expected)} ${v.verdict.met ? '✓' : '✗'}`,
        '',
      );
      out.push('```mermaid', ...sequence(v.run, workers), '```', '');
    }
    if (s.error) out.push(`The scenario's own SQL failed at ${s.error.file}:${s.error.line}: ${oneLine(s.error.message)}`, '');
  }
  return out.join('\n');
}

/** The diagram's lines. Participants get ids (w0, w1, db) so a worker name never clashes with Mermaid syntax. */
export function sequence(run: VariantRun, scenarioWorkers: readonly string[]): string[] {
  const workers = [...scenarioWorkers];
  for (const s of run.steps) if (!workers.includes(s.worker)) workers.push(s.worker);
  const id = (w: string) => `w${workers.indexOf(w)}`;
  const lines = ['sequenceDiagram'];
  for (const w of workers) lines.push(`  participant ${id(w)} as ${text(w)}`);
  lines.push(`  participant db as ${text(run.plan.engine)}`);
  const ev: readonly RunEvent[] = run.events;
  for (let i = 0; i < ev.length; i++) {
    const e = ev[i]!;
    switch (e.type) {
      case 'start': {
        const s = run.steps[e.step]!;
        lines.push(`  ${id(s.worker)}->>db: ${text(`${s.step}: ${clip(oneLine(s.sql))}`)}`);
        const next = ev[i + 1];
        if (next?.type === 'finish' && next.step === e.step && !s.blocked) {
          lines.push(reply(run, e.step, id));
          i++;
        }
        break;
      }
      case 'wait': {
        const s = run.steps[e.step]!;
        const holders = e.blockedBy.filter((b) => workers.includes(b) && b !== s.worker);
        // Mermaid spans a note over at most two participants.
        const over = [id(s.worker), ...holders.map(id)].slice(0, 2).join(',');
        const what = s.lock ? ` · ${lockText(s.lock)}` : '';
        lines.push(`  Note over ${over}: ${text(`${s.worker} waits for ${e.blockedBy.join(', ') || 'a lock (holder unknown)'}${what}`)}`);
        break;
      }
      case 'finish':
        lines.push(reply(run, e.step, id));
        break;
      case 'skip': {
        const s = run.steps[e.step]!;
        lines.push(`  Note over ${id(s.worker)}: ${text(`${s.step}: not run`)}`);
        break;
      }
      case 'hang': {
        const s = run.steps[e.step]!;
        lines.push(`  Note over ${id(s.worker)}: ${text(`✗ ${s.step}: hang, cancelled`)}`);
        break;
      }
      case 'rollback':
        if (e.reason !== 'retry') lines.push(`  Note over ${id(e.worker)}: ROLLBACK, gives up`);
        break;
      case 'retry':
        lines.push(`  Note over ${id(e.worker)}: ${text(`↻ retries (attempt ${e.attempt})`)}`);
        break;
    }
  }
  return lines;
}

/** The database's answer; a deadlock victim's is a cross, with the cycle in a note. */
function reply(run: VariantRun, step: number, id: (w: string) => string): string {
  const s = run.steps[step]!;
  const failed = s.status === 'error';
  const line = `  db-${failed ? '-x' : '->>'}${id(s.worker)}: ${text(`${s.blocked ? 'after waiting: ' : ''}${outcomeText(s)}`)}`;
  const dl = run.deadlocks.filter((d) => d.step === step);
  return [
    line,
    ...dl.map(
      (d) =>
        `  Note over ${[...new Set(d.cycle.filter((w) => run.steps.some((x) => x.worker === w)))].slice(0, 2).map(id).join(',') || id(s.worker)}: ${text(`☠ deadlock${cycleText(d.cycle)}, victim ${d.victim}`)}`,
    ),
  ].join('\n');
}

function clip(s: string): string {
  return s.length <= MAX_SQL ? s : `${s.slice(0, MAX_SQL - 1)}…`;
}

/**
 * Message text Mermaid reads literally: `#` starts an entity and `;` ends a statement, so both
 * become entity codes (as do the characters a renderer could take for markup); one line only.
 */
export function text(s: string): string {
  return oneLine(s).replace(/[#;<>&"%{}]/g, (c) => `#${c.charCodeAt(0)};`);
}
