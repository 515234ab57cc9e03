/**
 * One variant run as an inline SVG timeline: a lane per worker, one row per event in the order the
 * run recorded them. Rows follow event ORDER, never timings (timings differ run to run; the order
 * is what the schedule and the database decided), so the same run draws the same picture.
 */
import type { RunEvent, StepRecord, VariantRun } from '../engine/result.js';
import { lockText, oneLine, wrap } from './format.js';

/** Worker colours: dark enough for white text on them and for lines on white, told apart on a projector. */
export const WORKER_COLOURS = ['#1d4ed8', '#c2410c', '#047857', '#7e22ce', '#0e7490', '#a16207', '#be185d', '#4d7c0f'];

const WIDTH = 1160;
const HEAD = 52;
const PAD = 8;
const NAME_PX = 19;
const MONO_PX = 16;
const RED = '#b91c1c';
const GREY = '#6b7280';

type Row =
  | { kind: 'step'; step: number; phase: 'whole' | 'start' | 'finish' }
  | { kind: 'wait'; step: number; blockedBy: string[]; lock: string }
  | { kind: 'skip'; step: number }
  | { kind: 'note'; worker: string; text: string; colour: string }
  | { kind: 'cycle'; victim: string; cycle: string[] };

/** The events as rows: a step that starts and finishes without waiting is one row, like the transcript. */
export function timelineRows(run: VariantRun): Row[] {
  const rows: Row[] = [];
  const ev: readonly RunEvent[] = run.events;
  for (let i = 0; i < ev.length; i++) {
    const e = ev[i]!;
    switch (e.type) {
      case 'start': {
        const next = ev[i + 1];
        const whole = next?.type === 'finish' && next.step === e.step && !run.steps[e.step]!.blocked;
        rows.push({ kind: 'step', step: e.step, phase: whole ? 'whole' : 'start' });
        if (whole) {
          i++;
          rows.push(...cycleRows(run, e.step));
        }
        break;
      }
      case 'wait': {
        const lock = run.steps[e.step]!.lock;
        rows.push({ kind: 'wait', step: e.step, blockedBy: e.blockedBy, lock: lock ? lockText(lock) : '' });
        break;
      }
      case 'finish':
        rows.push({ kind: 'step', step: e.step, phase: 'finish' }, ...cycleRows(run, e.step));
        break;
      case 'skip':
        rows.push({ kind: 'skip', step: e.step });
        break;
      case 'hang': {
        const s = run.steps[e.step]!;
        const why = e.reason === 'stuck' ? `still waiting after ${e.afterMs} ms, nothing could move` : `not finished after ${e.afterMs} ms`;
        rows.push({ kind: 'note', worker: s.worker, text: `✗ ${s.step}: hang (${why}), cancelled`, colour: RED });
        break;
      }
      case 'rollback':
        if (e.reason !== 'retry')
          rows.push({ kind: 'note', worker: e.worker, text: 'ROLLBACK: gives up, the rest is not run', colour: GREY });
        break;
      case 'retry':
        rows.push({ kind: 'note', worker: e.worker, text: `↻ rolls back, retries (attempt ${e.attempt})`, colour: '#86198f' });
        break;
    }
  }
  return rows;
}

function cycleRows(run: VariantRun, step: number): Row[] {
  return run.deadlocks.filter((d) => d.step === step).map((d) => ({ kind: 'cycle' as const, victim: d.victim, cycle: d.cycle }));
}

const LINE = 21;
const MAX_SQL_LINES = 3;

function rowHeight(r: Row, sqlLines: number): number {
  if (r.kind === 'step') return 40 + LINE * (r.phase === 'finish' ? 1 : sqlLines);
  if (r.kind === 'skip') return 44;
  if (r.kind === 'wait' && r.lock) return 66;
  return 40;
}

/** SQL word-wrapped to the box, at most MAX_SQL_LINES lines (the full text is in the box's tooltip). */
function sqlLines(sql: string, chars: number): string[] {
  const lines = wrap(oneLine(sql), chars);
  if (lines.length <= MAX_SQL_LINES) return lines.map((l) => clip(l, chars));
  const kept = lines.slice(0, MAX_SQL_LINES);
  kept[MAX_SQL_LINES - 1] = clip(`${kept[MAX_SQL_LINES - 1]} …`, chars);
  return kept;
}

/** What a finished step did, in a few words. */
export function outcomeText(s: StepRecord): string {
  if (s.status === 'not-run') return 'not run';
  if (s.hang) return 'hang: cancelled';
  if (s.status === 'error' && s.error) {
    const handled = s.handled === 'caught' ? ', caught' : s.handled === 'retried' ? ', retried' : '';
    return `✗ ${s.error.kind} (${s.error.code})${handled}`;
  }
  if (s.resultSet) {
    const first = s.rows[0] ? `: ${oneLine(JSON.stringify(s.rows[0]))}` : '';
    const n = s.rowCount ?? s.rows.length;
    return `${n} row${n === 1 ? '' : 's'}${first}${n > 1 ? ' …' : ''}`;
  }
  if (s.rowCount !== null) return `✓ ${s.rowCount} row${s.rowCount === 1 ? '' : 's'} changed`;
  return '✓ ok';
}

/**
 * The SVG. `workers` fixes the lanes and their colours (the scenario's order, so a worker keeps
 * its colour in every variant); a worker not in it gets a lane after them. `id` keeps the SVG's
 * marker ids apart from the other timelines' in the same page.
 */
export function timelineSvg(run: VariantRun, workers: readonly string[], id = 't'): string {
  const lanes = [...workers];
  for (const s of run.steps) if (!lanes.includes(s.worker)) lanes.push(s.worker);
  const laneW = WIDTH / lanes.length;
  const laneX = (w: string) => lanes.indexOf(w) * laneW;
  const mid = (w: string) => laneX(w) + laneW / 2;
  const colour = (w: string) => WORKER_COLOURS[lanes.indexOf(w) % WORKER_COLOURS.length]!;
  const fit = (text: string, px: number, room: number) => clip(text, Math.max(8, Math.floor(room / (px * 0.6))));
  const victims = new Set(run.deadlocks.map((d) => d.step));

  const rows = timelineRows(run);
  const sqlChars = Math.max(8, Math.floor((laneW - 64) / (MONO_PX * 0.61)));
  const sql = rows.map((r) => (r.kind === 'step' && r.phase !== 'finish' ? sqlLines(run.steps[r.step]!.sql, sqlChars) : []));
  const heights = rows.map((r, i) => rowHeight(r, sql[i]!.length));
  const ys: number[] = [];
  let y = HEAD + PAD;
  for (const h of heights) {
    ys.push(y);
    y += h + PAD;
  }
  const height = y + PAD;

  const out: string[] = [];
  // Lifelines and lane heads.
  for (const w of lanes) {
    out.push(
      `<line x1="${mid(w)}" y1="${HEAD}" x2="${mid(w)}" y2="${height}" stroke="${colour(w)}" stroke-width="3" stroke-dasharray="2 8" opacity="0.6"/>`,
    );
    out.push(`<rect x="${laneX(w) + 6}" y="4" width="${laneW - 12}" height="${HEAD - 12}" rx="8" fill="${colour(w)}"/>`);
    out.push(
      `<text x="${mid(w)}" y="${HEAD / 2 + 5}" text-anchor="middle" class="lane" fill="#fff" font-size="22" font-weight="700">${esc(w)}</text>`,
    );
  }
  // Wait bars first, so the boxes are drawn over their ends: from the row that sent the step to the row it finished.
  const startRow = new Map<number, number>();
  rows.forEach((r, i) => {
    if (r.kind === 'step' && r.phase === 'start') startRow.set(r.step, i);
    if (r.kind === 'step' && r.phase === 'finish' && startRow.has(r.step)) {
      const s = run.steps[r.step]!;
      if (!s.blocked) return;
      const from = ys[startRow.get(r.step)!]! + heights[startRow.get(r.step)!]!;
      const x = laneX(s.worker) + 14;
      out.push(
        `<rect class="wait-bar" data-step="${esc(`${s.worker}.${s.step}`)}" x="${x}" y="${from}" width="14" height="${ys[i]! - from}" fill="url(#${id}-hatch)" stroke="#b45309" stroke-width="2"><title>${esc(`${s.worker}.${s.step} waited from here until it finished`)}</title></rect>`,
      );
    }
  });
  rows.forEach((r, i) => {
    const top = ys[i]!;
    const h = heights[i]!;
    if (r.kind === 'step') {
      const s = run.steps[r.step]!;
      const x = laneX(s.worker) + 34;
      const w = laneW - 44;
      const victim = r.phase !== 'start' && victims.has(r.step);
      const failed = r.phase !== 'start' && s.status === 'error';
      const stroke = victim || failed ? RED : colour(s.worker);
      const fill = victim || failed ? '#fee2e2' : '#ffffff';
      const tags = [s.attempt > 1 ? `attempt ${s.attempt}` : '', s.recovery ? 'recovery' : ''].filter(Boolean).join(', ');
      const name = `${r.phase === 'finish' ? '↳ ' : ''}${s.step}${tags ? ` (${tags})` : ''}`;
      const head = r.phase === 'start' ? `${name}: sent, waits…` : r.phase === 'finish' ? `${name}: after waiting` : name;
      const below = r.phase === 'finish' ? [clip(outcomeText(s), sqlChars)] : sql[i]!;
      const params =
        Object.keys(s.params).length > 0
          ? ` with ${JSON.stringify(s.params, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))}`
          : '';
      const title = `${s.worker}.${s.step}: ${oneLine(s.sql)}${params} → ${outcomeText(s)}${s.note ? ` (${s.note})` : ''}`;
      out.push(
        `<g class="step${victim ? ' victim' : ''}" data-worker="${esc(s.worker)}" data-step="${esc(s.step)}"><title>${esc(title)}</title>`,
      );
      out.push(
        `<rect x="${x}" y="${top}" width="${w}" height="${h}" rx="6" fill="${fill}" stroke="${stroke}" stroke-width="${victim ? 5 : 3}"/>`,
      );
      const outcome = r.phase === 'whole' ? `  ${outcomeText(s)}` : '';
      out.push(
        `<text x="${x + 10}" y="${top + 25}" font-size="${NAME_PX}" font-weight="700" fill="${victim || failed ? RED : '#111827'}">${esc(fit(head + outcome, NAME_PX, w - 20))}</text>`,
      );
      if (victim)
        out.push(
          `<text x="${x + w - 10}" y="${top + 25}" text-anchor="end" font-size="${NAME_PX}" font-weight="800" fill="${RED}">☠ VICTIM</text>`,
        );
      for (const [k, l] of below.entries()) {
        out.push(`<text x="${x + 10}" y="${top + 50 + k * LINE}" class="mono" font-size="${MONO_PX}" fill="#1f2937">${esc(l)}</text>`);
      }
      out.push('</g>');
    } else if (r.kind === 'skip') {
      const s = run.steps[r.step]!;
      const x = laneX(s.worker) + 34;
      out.push(
        `<g class="step not-run" data-worker="${esc(s.worker)}" data-step="${esc(s.step)}"><title>${esc(`${s.worker}.${s.step}: not run: ${oneLine(s.sql)}`)}</title>`,
      );
      out.push(
        `<rect x="${x}" y="${top}" width="${laneW - 44}" height="${h}" rx="6" fill="#f3f4f6" stroke="#9ca3af" stroke-width="2" stroke-dasharray="6 5"/>`,
      );
      out.push(
        `<text x="${x + 10}" y="${top + 28}" font-size="${NAME_PX}" fill="${GREY}">${esc(fit(`${s.step}: not run`, NAME_PX, laneW - 64))}</text></g>`,
      );
    } else if (r.kind === 'wait') {
      const s = run.steps[r.step]!;
      const from = mid(s.worker);
      const cy = top + h / 2;
      const label = r.blockedBy.length > 0 ? `${s.worker} waits for ${r.blockedBy.join(', ')}` : `${s.worker} waits (holder unknown)`;
      const lock = r.lock;
      out.push(`<g class="wait" data-worker="${esc(s.worker)}" data-blocked-by="${esc(r.blockedBy.join(' '))}" data-lock="${esc(lock)}">`);
      for (const holder of r.blockedBy) {
        if (!lanes.includes(holder) || holder === s.worker) continue;
        const to = mid(holder);
        const dir = to > from ? 1 : -1;
        out.push(
          `<line x1="${from}" y1="${cy}" x2="${to - dir * 14}" y2="${cy}" stroke="#b45309" stroke-width="4" marker-end="url(#${id}-arrow)"/>`,
        );
      }
      // The label runs towards the holder, or towards the middle when no holder has a lane, so it stays on the page.
      const shown = r.blockedBy.filter((b) => lanes.includes(b) && b !== s.worker);
      const leftwards = shown.length > 0 ? shown.some((b) => mid(b) < from) : from > WIDTH / 2;
      const anchorX = leftwards ? from - 12 : from + 12;
      const anchor = anchorX < from ? 'end' : 'start';
      out.push(
        `<text x="${anchorX}" y="${cy - 10}" text-anchor="${anchor}" font-size="${NAME_PX}" font-weight="700" fill="#92400e" class="halo">${esc(label)}</text>`,
      );
      // What it waits for, under the arrow.
      if (lock)
        out.push(
          `<text x="${anchorX}" y="${cy + 20}" text-anchor="${anchor}" font-size="${NAME_PX - 4}" fill="#92400e" class="halo lock">${esc(lock)}</text>`,
        );
      out.push('</g>');
    } else if (r.kind === 'note') {
      out.push(
        `<text class="note halo" x="${laneX(r.worker) + 34}" y="${top + 26}" font-size="${NAME_PX}" font-weight="700" fill="${r.colour}">${esc(fit(r.text, NAME_PX, laneW - 40))}</text>`,
      );
    } else {
      const text = `☠ deadlock${cycleText(r.cycle)} · the database aborted ${r.victim}`;
      out.push(
        `<g class="cycle" data-victim="${esc(r.victim)}"><rect x="4" y="${top}" width="${WIDTH - 8}" height="${h}" rx="6" fill="${RED}"/>`,
      );
      out.push(
        `<text x="${WIDTH / 2}" y="${top + 27}" text-anchor="middle" font-size="${NAME_PX + 1}" font-weight="800" fill="#fff">${esc(text)}</text></g>`,
      );
    }
  });

  const defs = `<defs><marker id="${id}-arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="5" markerHeight="5" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#b45309"/></marker><pattern id="${id}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#fde68a"/><line x1="0" y1="0" x2="0" y2="8" stroke="#b45309" stroke-width="4"/></pattern></defs>`;
  return `<svg class="timeline" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-label="timeline">${defs}${out.join('')}</svg>`;
}

/** `: a → b → a`; nothing when the database named fewer than two workers (InnoDB may name only the victim's side). */
export function cycleText(cycle: readonly string[]): string {
  return cycle.length < 2 ? '' : `: ${[...cycle, cycle[0]!].join(' → ')}`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Text for HTML and SVG (element content and quoted attributes). */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
