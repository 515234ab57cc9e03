/**
 * YAML text → plain data, keeping the document so any path in the data can be traced back to a
 * line. Parsing only builds; src/scenario/check.ts decides what is wrong.
 */
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';

export type Path = readonly (string | number)[];

/** One problem in a scenario file, shown as `file:line: message`. */
export interface Problem {
  file: string;
  line: number;
  message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}: ${p.message}`;
}

export interface ParsedFile {
  file: string;
  /** The plain data (undefined when the YAML itself is broken beyond use). */
  data: unknown;
  /** YAML syntax problems; when present, `data` is trustworthy only before the first one. */
  problems: Problem[];
  /** Line (1-based) of the value at `path`; with `key`, of the key itself (for unknown keys). */
  lineOf(path: Path, key?: boolean): number;
}

/** Aliases a scenario may expand: plenty for shared SQL, far too few for an exponential blow-up. */
const MAX_ALIAS_COUNT = 100;

export function parseScenarioText(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  // uniqueKeys (the default) makes a key given twice a syntax problem, not a silent overwrite.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: Problem[] = doc.errors.map((e) => ({
    file,
    line: lineCounter.linePos(e.pos[0]).line,
    message: `YAML: ${firstLine(e.message)}`,
  }));
  // Even a document with syntax errors usually yields data for the lines before the error; the
  // checker uses it to report problems there too.
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    // The yaml package refuses a document whose aliases expand past the count ("billion laughs").
    const aliases = /alias count/i.test((e as Error).message);
    problems.push({
      file,
      line: 1,
      message: aliases
        ? `YAML: aliases expand too far (more than ${MAX_ALIAS_COUNT} per node: a "billion laughs" file?)`
        : `YAML: ${firstLine((e as Error).message)}`,
    });
    data = undefined;
  }
  return { file, data, problems, lineOf: (path, key) => lineOf(doc, lineCounter, path, key) };
}

function lineOf(doc: Document, lc: LineCounter, path: Path, key = false): number {
  // Walk down as far as the path exists; report the deepest node found.
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const seg of path) {
    if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      if (key && seg === path[path.length - 1]) {
        offset = rangeStart(pair.key) ?? offset;
        break;
      }
      next = pair.value;
      offset = rangeStart(next) ?? rangeStart(pair.key) ?? offset;
    } else {
      next = typeof seg === 'number' ? items[seg] : undefined;
      if (next === undefined) break;
      offset = rangeStart(next) ?? offset;
    }
    node = next;
  }
  return lc.linePos(offset).line;
}

function rangeStart(node: unknown): number | undefined {
  if (node && typeof node === 'object' && 'range' in node) {
    const r = (node as { range?: [number, number, number] }).range;
    return r?.[0];
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
