// Writes the golden transcripts: `npm run golden` (builds first), or
//   npm run golden -- [--target <name>]... [scenario]...
// For each target (every one by default) and each built-in scenario (every one by default) it runs
// `lockrepro run <name> --no-color [--db URL]` once with the built CLI and writes its stdout to
// test/golden/<target>/<name>.txt. A server that does not answer is skipped and named at the end.
// A file that differs from the new output only in the normalised header version is left alone. With
// no scenario named, the files of scenarios no longer built in are removed. Review with `git diff`.
// Exit 1 when a run did not meet its expectations or failed, or a target named by --target was
// unreachable; the files of the runs that worked are written all the same.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { engineSkipReason } from '../../src/plan/plan.js';
import { builtinFiles, loadFile } from '../../src/scenario/load.js';
import { redactUrl } from '../../src/util/redact.js';
import { GOLDEN_TARGETS, goldenCommand, goldenFile, normalise, readGolden, runGolden } from '../helpers/golden.js';

const USAGE = `usage: npm run golden -- [--target <name>]... [scenario]...
targets: ${GOLDEN_TARGETS.map((t) => t.name).join(', ')}`;

const argv = process.argv.slice(2);
const wantTargets: string[] = [];
const wantScenarios: string[] = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--target') wantTargets.push(argv[++i] ?? '');
  else if (a === '--help' || a === '-h') {
    console.log(USAGE);
    process.exit(0);
  } else if (a.startsWith('-')) usage(`unknown flag ${a}`);
  else wantScenarios.push(a);
}

function usage(message: string): never {
  console.error(`golden: ${message}\n${USAGE}`);
  process.exit(2);
}

const builtins = builtinFiles().map((f) => loadFile(f).scenario!);
for (const t of wantTargets) if (!GOLDEN_TARGETS.some((g) => g.name === t)) usage(`unknown target "${t}"`);
for (const s of wantScenarios) if (!builtins.some((b) => b.name === s)) usage(`"${s}" is not a built-in scenario`);
const targets = GOLDEN_TARGETS.filter((t) => wantTargets.length === 0 || wantTargets.includes(t.name));
const scenarios = builtins.filter((s) => wantScenarios.length === 0 || wantScenarios.includes(s.name));

const lineCount = (s: string) => s.split('\n').length - 1;
const skipped: string[] = [];
const failed: string[] = [];
const tally = { new: 0, changed: 0, unchanged: 0, removed: 0 };

for (const target of targets) {
  const reason = await target.unreachable();
  if (reason !== null) {
    console.log(`\n${target.name}: SKIPPED, ${target.label} at ${redactUrl(target.url ?? '')} not reachable: ${reason}`);
    skipped.push(target.name);
    continue;
  }
  console.log(`\n${target.name} (${target.label})`);
  mkdirSync(path.dirname(goldenFile(target, 'x')), { recursive: true });
  for (const sc of scenarios) {
    if (engineSkipReason(sc, target.engine)) {
      console.log(`  - ${sc.name}: not written, the scenario does not run on ${target.engine}`);
      continue;
    }
    const t0 = performance.now();
    const r = runGolden(target, sc.name);
    const secs = `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    if (r.code !== 0 && r.code !== 1) {
      console.log(
        `  ! ${sc.name}: NOT WRITTEN, \`${goldenCommand(target, sc.name)}\` exited ${r.code}:\n${r.stderr.replace(/^/gm, '      ')}`,
      );
      failed.push(`${target.name}/${sc.name}`);
      continue;
    }
    const old = readGolden(target, sc.name);
    let status: string;
    if (old !== null && normalise(target, old) === normalise(target, r.stdout)) {
      status = old === r.stdout ? 'unchanged' : 'unchanged (differs only in the normalised server version)';
      tally.unchanged++;
    } else {
      writeFileSync(goldenFile(target, sc.name), r.stdout);
      status = old === null ? `new, ${lineCount(r.stdout)} lines` : 'CHANGED';
      tally[old === null ? 'new' : 'changed']++;
    }
    if (r.code === 1) {
      status += '; EXPECTATION NOT MET (exit 1): the test will fail on it';
      failed.push(`${target.name}/${sc.name}`);
    }
    console.log(`  ${old === null ? '+' : status.startsWith('CHANGED') ? '~' : '='} ${sc.name}: ${status} (${secs})`);
  }
  if (wantScenarios.length === 0) {
    const names = new Set(builtins.map((s) => `${s.name}.txt`));
    const dir = path.dirname(goldenFile(target, 'x'));
    for (const f of readdirSync(dir).filter((f) => !names.has(f))) {
      rmSync(path.join(dir, f));
      console.log(`  - ${f}: removed, no such built-in scenario`);
      tally.removed++;
    }
  }
}

console.log(`\ngolden: ${tally.new} new, ${tally.changed} changed, ${tally.unchanged} unchanged, ${tally.removed} removed`);
if (skipped.length > 0) console.log(`SKIPPED (server not reachable): ${skipped.join(', ')}; their files were not regenerated`);
if (failed.length > 0) console.log(`FAILED: ${failed.join(', ')}`);
if (tally.new + tally.changed + tally.removed > 0) console.log('review the change: git diff --stat test/golden && git diff test/golden');
const explicitSkip = skipped.some((t) => wantTargets.includes(t));
process.exit(failed.length > 0 || explicitSkip ? 1 : 0);
