/**
 * Command-line targets (file paths, folders, built-in names) → checked scenarios.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRegularFile } from '../util/read-file.js';
import { checkScenario } from './check.js';
import type { Scenario } from './model.js';
import { parseScenarioText, type Problem } from './parse.js';

/** The package's own scenarios/ folder (the built-in library), from src/ or dist/ alike. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILTIN_DIR = path.join(PACKAGE_ROOT, 'scenarios');

const isYaml = (f: string) => /\.ya?ml$/i.test(f);

export interface LoadResult {
  scenarios: Scenario[];
  problems: Problem[];
  /** Targets that name nothing: each a one-line message. */
  missing: string[];
}

/** The built-in scenario files, sorted by name. */
export function builtinFiles(): string[] {
  return yamlFilesIn(BUILTIN_DIR);
}

function yamlFilesIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? yamlFilesIn(path.join(dir, d.name)) : isYaml(d.name) ? [path.join(dir, d.name)] : []))
    .sort();
}

/** Resolve targets to files: an existing file, every YAML file in a folder, or a built-in name. */
export function resolveTargets(targets: readonly string[]): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  for (const t of targets) {
    let st: Stats | undefined;
    let found: string[] = [];
    try {
      // ENOENT gives undefined; ENOTDIR (a part of the path is a file: README.md/x), EACCES,
      // ENAMETOOLONG and the like still throw, here or while listing a folder.
      st = statSync(t, { throwIfNoEntry: false });
      if (st?.isDirectory()) found = yamlFilesIn(t);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      missing.push(
        `${t}: ${code === 'ENOTDIR' ? 'no such file or folder (a part of the path is a file, not a folder)' : `cannot read (${code ?? (e as Error).message})`}`,
      );
      continue;
    }
    if (st?.isDirectory()) {
      if (found.length === 0) missing.push(`${t}: folder has no .yaml scenario files`);
      files.push(...found);
    } else if (st?.isFile()) {
      files.push(t);
    } else if (st) {
      // A FIFO would block a read forever, /dev/zero never ends: named for what they are.
      missing.push(`${t}: not a regular file (a scenario is a .yaml file or a folder of them)`);
    } else {
      const builtin = path.join(BUILTIN_DIR, `${t.replace(/\.ya?ml$/i, '')}.yaml`);
      if (!t.includes('/') && statSync(builtin, { throwIfNoEntry: false })?.isFile()) files.push(builtin);
      else missing.push(`${t}: no such file, folder or built-in scenario (lockrepro list shows the built-in ones)`);
    }
  }
  return { files: [...new Set(files.map((f) => path.resolve(f)))], missing };
}

/** How a file is named in output: relative to the package for built-ins, else to the cwd. */
export function displayPath(file: string): string {
  const abs = path.resolve(file);
  if (abs.startsWith(BUILTIN_DIR + path.sep)) return path.relative(PACKAGE_ROOT, abs);
  const rel = path.relative(process.cwd(), abs);
  return rel.startsWith('..') ? abs : rel;
}

export function loadFile(file: string): { scenario?: Scenario; problems: Problem[] } {
  const shown = displayPath(file);
  const r = readRegularFile(file);
  if ('problem' in r) return { problems: [{ file: shown, line: 1, message: `cannot read: ${r.problem}` }] };
  return checkScenario(parseScenarioText(shown, r.text), path.dirname(path.resolve(file)));
}

export function loadTargets(targets: readonly string[]): LoadResult {
  const { files, missing } = resolveTargets(targets);
  const scenarios: Scenario[] = [];
  const problems: Problem[] = [];
  const names = new Map<string, string>();
  for (const f of files) {
    const r = loadFile(f);
    problems.push(...r.problems);
    if (!r.scenario) continue;
    const other = names.get(r.scenario.name);
    if (other) problems.push({ file: r.scenario.file, line: 1, message: `scenario name ${r.scenario.name} is also used by ${other}` });
    names.set(r.scenario.name, r.scenario.file);
    scenarios.push(r.scenario);
  }
  return { scenarios, problems, missing };
}
