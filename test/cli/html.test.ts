// `run --html` in a real browser: the page a workshop projects must render, offline, and show what
// the JSON says (the workers, the deadlock victim, the fix, every check). Headless Debian chromium;
// outside CI a missing chromium skips loudly, under CI=true it fails (.ci/run installs it).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { lockrepro } from '../helpers/cli.js';
import { PG_URL, gate, pgGate } from '../helpers/servers.js';

const external = await pgGate();
const CHROMIUM = process.env.LOCKREPRO_TEST_CHROMIUM ?? 'chromium';
const browser = gate(`a headless browser (${CHROMIUM})`, chromiumMissing());

function chromiumMissing(): string | null {
  const r = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error)
    return (r.error as NodeJS.ErrnoException).code === 'ENOENT'
      ? `${CHROMIUM} is not installed (apt-get install chromium)`
      : r.error.message;
  return r.status === 0 ? null : `${CHROMIUM} --version exited ${r.status}: ${r.stderr.trim()}`;
}

/** Headless chromium on a file, offline: nothing that would reach the network or a profile. */
function chromium(args: string[], page: string): { stdout: string; stderr: string } {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-chromium-'));
  const r = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
      '--window-size=1280,900',
      ...args,
      pathToFileURL(page).href,
    ],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(r.error, undefined, String(r.error));
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, stderr: r.stderr };
}

type Doc = {
  ok: boolean;
  scenarios: {
    name: string;
    variants: {
      name: string;
      fix: boolean;
      met: boolean;
      steps: { worker: string }[];
      deadlockReports: { victim: string; cycle: string[] }[];
      checks: { name: string; passed: boolean }[];
    }[];
  }[];
};

describe('run --html in a real browser (PostgreSQL 15, headless chromium)', { skip: external.skip || browser.skip }, () => {
  test('ab-ba-deadlock: the page renders and shows the workers, the victim, the fix and every check the JSON reports', () => {
    external.require();
    browser.require();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-html-'));
    const html = path.join(dir, 'out.html');
    const md = path.join(dir, 'out.md');
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', PG_URL, '--html', html, '--mermaid', md, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    const variants = doc.scenarios[0]!.variants;

    const png = path.join(dir, 'shot.png');
    chromium([`--screenshot=${png}`], html);
    assert.ok(existsSync(png), 'chromium wrote no screenshot');
    const image = readFileSync(png);
    assert.equal(image.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(image.readUInt32BE(16), 1280, 'screenshot width');
    // A blank or unstyled page compresses to a few kB; the timelines and coloured lanes do not.
    assert.ok(statSync(png).size > 40_000, `screenshot only ${statSync(png).size} bytes`);

    // The DOM after the browser parsed it: what the JSON says is what the page shows.
    const dom = chromium(['--dump-dom'], html).stdout;
    assert.match(dom, /<p class="overall pass">/);
    const articles = [...dom.matchAll(/<article class="variant (bug|fix)" data-variant="([^"]+)">/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(
      articles,
      variants.map((v) => `${v.fix ? 'fix' : 'bug'}:${v.name}`),
    );
    for (const v of variants) {
      const part = dom.slice(dom.indexOf(`data-variant="${v.name}"`), dom.indexOf('</article>', dom.indexOf(`data-variant="${v.name}"`)));
      for (const worker of new Set(v.steps.map((s) => s.worker))) {
        assert.match(part, new RegExp(`<g class="step[^"]*" data-worker="${worker}"`), `${v.name}: a lane for ${worker}`);
      }
      for (const d of v.deadlockReports) {
        assert.match(part, new RegExp(`<g class="cycle" data-victim="${d.victim}">`), `${v.name}: the victim ${d.victim}`);
        assert.match(part, new RegExp(`<g class="step victim" data-worker="${d.victim}"`));
      }
      if (v.deadlockReports.length === 0) assert.doesNotMatch(part, /class="cycle"|class="step victim"/);
      for (const c of v.checks) {
        assert.match(
          part,
          new RegExp(
            `<li class="check ${c.passed ? 'pass' : 'fail'}" data-check="${c.name}"><span class="mark">${c.passed ? '✓' : '✗'}</span>`,
          ),
        );
      }
      assert.match(part, new RegExp(`<p class="verdict ${v.met ? 'pass' : 'fail'}">`));
    }
    assert.ok(
      variants.some((v) => v.deadlockReports.length > 0),
      'the bug deadlocked',
    );
    assert.ok(
      variants.some((v) => v.fix),
      'a fix ran',
    );
    for (const name of ['alice', 'bob']) assert.ok(variants[0]!.steps.some((s) => s.worker === name));

    const mermaid = readFileSync(md, 'utf8');
    assert.equal(mermaid.match(/```mermaid\nsequenceDiagram\n/g)?.length, variants.length);
  });
});

describe('run --html and --mermaid when a scenario is broken (PostgreSQL 15)', { skip: external.skip }, () => {
  test('both files are still written, the broken scenario marked, and the exit code is 2', () => {
    external.require();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockrepro-html-broken-'));
    const text = readFileSync(path.resolve('scenarios/ab-ba-deadlock.yaml'), 'utf8');
    const broken = text
      .replace('name: ab-ba-deadlock', 'name: broken-step')
      .replace('"UPDATE account SET balance = balance - 10 WHERE id = 1"', '"UPDATE acount SET balance = balance - 10 WHERE id = 1"');
    assert.notEqual(broken, text);
    writeFileSync(path.join(dir, 'broken.yaml'), broken);
    const html = path.join(dir, 'out.html');
    const md = path.join(dir, 'out.md');
    const r = lockrepro(['run', path.join(dir, 'broken.yaml'), '--db', PG_URL, '--html', html, '--mermaid', md]);
    assert.equal(r.code, 2, r.stderr);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /<div class="scenario-error">✗ the scenario's own SQL failed at [^<]*broken\.yaml:\d+: /);
    assert.match(page, /<p class="overall fail">/);
    assert.match(readFileSync(md, 'utf8'), /The scenario's own SQL failed at \S*broken\.yaml:\d+: /);
  });
});

test('--html and --mermaid into a missing folder fail before any database work (exit 2)', () => {
  for (const flag of ['--html', '--mermaid']) {
    const target = path.join(os.tmpdir(), 'lockrepro-no-such-folder', 'out');
    // An unreachable database: had the run started, this would be exit 3.
    const r = lockrepro(['run', 'ab-ba-deadlock', '--db', 'postgres://u@127.0.0.1:1/x', flag, target]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^lockrepro: ${flag} \\S+: folder \\S+ does not exist`));
  }
});
