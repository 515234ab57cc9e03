/**
 * Partial-order reduction for `--interleavings`: which steps of different workers cannot conflict,
 * so that two interleavings differing only in the order of such steps, next to each other, end
 * the same way and one of them is enough. Conservative by construction: whatever is not
 * recognised conflicts with everything. docs/how-it-works.md says why each rule is sound.
 */
import { sqlTokens } from '../scenario/sql-lexer.js';
import type { VariantPlan } from './plan.js';
import { ONE_WRITE_LOCK } from '../vocabulary.js';

/**
 * What a step can do to other workers:
 * - `local`: only starts its own transaction (BEGIN / START TRANSACTION, no snapshot taken yet);
 * - `read`: a plain SELECT inside an explicit transaction (no locking clause, no function but a few
 *   pure ones);
 * - `write`: INSERT / UPDATE / DELETE or a locking SELECT inside an explicit transaction;
 * - `end`: ends or marks its transaction (COMMIT, ROLLBACK, SAVEPOINT…) or sets a session value;
 * - `opaque`: anything else (DDL, LOCK, calls, unknown functions, autocommit statements).
 * `end` and `opaque` conflict with every step of every other worker.
 */
export type StepKind = 'local' | 'read' | 'write' | 'end' | 'opaque';

export interface Footprint {
  readonly kind: StepKind;
  /**
   * Every name in a place where SQL names a table (after FROM, JOIN, UPDATE, INTO, USING, DELETE,
   * in comma-separated lists, aliases included: a superset, on purpose).
   */
  readonly names: ReadonlySet<string>;
}

/** Functions with no side effect and no lock: a step calling any other is opaque. */
const PURE = new Set(
  'count sum min max avg coalesce nullif greatest least abs round floor ceil ceiling lower upper length concat cast mod sign trim'.split(
    ' ',
  ),
);

/** Words that are never a table name here (dropping one only makes the reduction smaller). */
const KEYWORDS = new Set(
  `select from where and or not in is null update set insert into values delete for share nowait skip locked of
  key no lock mode join inner left right outer cross on using as order by group having limit offset returning
  distinct all any some exists case when then else end true false like ilike between asc desc nulls first last
  default with only begin start transaction work isolation level read write committed uncommitted repeatable
  serializable commit rollback savepoint release to abort chain`
    .split(/\s+/)
    .filter(Boolean),
);

const TX_START = /^(begin|start)$/;
const TX_WORDS = new Set(
  'begin start transaction work isolation level read write only committed uncommitted repeatable serializable'.split(' '),
);
const ENDS = new Set(['commit', 'rollback', 'end', 'abort']);
const MARKS = new Set(['savepoint', 'release', 'set', 'reset', 'show']);

/** Footprints of each worker's steps, in order (`inTx` is followed from BEGIN to COMMIT/ROLLBACK). */
export function footprints(plan: VariantPlan): Footprint[][] {
  return plan.workers.map((w) => {
    let inTx = false;
    return w.steps.map((s) => {
      const f = footprint(s.sql.text, plan, inTx);
      if (f.kind === 'local') inTx = true;
      const first = firstWord(s.sql.text, plan);
      if (ENDS.has(first) && !/\bto\b/i.test(s.sql.text)) inTx = false;
      return f;
    });
  });
}

function firstWord(sql: string, plan: VariantPlan): string {
  const t = sqlTokens(sql, plan.engine).find((x) => x.kind !== 'comment');
  return t?.kind === 'word' ? t.text.toLowerCase() : '';
}

/** Words after which table names follow (a comma-separated list, with aliases). */
const TABLE_LIST = new Set(['from', 'join', 'update', 'into', 'using', 'delete']);
/** Words that may stand inside such a list without ending it. */
const IN_LIST = new Set(['as', 'only']);

export function footprint(sql: string, plan: VariantPlan, inTx: boolean): Footprint {
  const tokens = sqlTokens(sql, plan.engine).filter((t) => t.kind !== 'comment');
  const words: string[] = [];
  const names = new Set<string>();
  let call = false;
  let statements = 0;
  // Inside a list of tables: every name there counts (aliases too, which only adds conflicts).
  let tables = false;
  // Right after FROM, a comma or a dot: the next word is a name even if it is also a keyword.
  let expectName = false;
  tokens.forEach((t, i) => {
    if (t.kind === 'symbol' && t.text === ';' && i + 1 < tokens.length) statements++;
    if (t.kind === 'quoted-name') {
      if (tables) names.add(sql.slice(t.start + 1, t.end - 1).toLowerCase());
      expectName = false;
      return;
    }
    if (t.kind === 'symbol') {
      if (t.text !== ',' && t.text !== '.') tables = false;
      expectName = tables;
      return;
    }
    if (t.kind !== 'word') {
      tables = false;
      return;
    }
    const w = t.text.toLowerCase();
    words.push(w);
    const next = tokens[i + 1];
    const prev = tokens[i - 1];
    const isCall =
      next?.kind === 'symbol' && next.text === '(' && !KEYWORDS.has(w) && !(prev?.kind === 'word' && prev.text.toLowerCase() === 'into');
    if (isCall && !PURE.has(w)) call = true;
    // FROM, JOIN, UPDATE, INTO, USING and DELETE are reserved: never a table's unquoted name.
    if (TABLE_LIST.has(w)) {
      tables = true;
      expectName = true;
    } else if (expectName && !IN_LIST.has(w)) {
      names.add(w);
      expectName = false;
    } else if (KEYWORDS.has(w) && !IN_LIST.has(w)) {
      tables = false;
      expectName = false;
    } else if (tables) names.add(w);
  });
  const opaque: Footprint = { kind: 'opaque', names };
  if (statements > 0) return opaque;
  const first = words[0] ?? '';
  // BEGIN inside a transaction commits it on MySQL: only a first BEGIN is the worker's own affair.
  if (TX_START.test(first)) return !inTx && words.every((w) => TX_WORDS.has(w)) ? { kind: 'local', names } : opaque;
  if (ENDS.has(first) || MARKS.has(first)) return call ? opaque : { kind: 'end', names };
  // Outside an explicit transaction a statement commits at once: its effect is visible to others
  // at a point that moves with it.
  if (!inTx || call) return opaque;
  // A CTE may write, and may name its tables anywhere.
  if (words.includes('with')) return opaque;
  if (first === 'select') {
    if (words.includes('into')) return opaque; // SELECT INTO makes a table, or writes variables / files
    if (words.includes('for') || words.includes('lock')) return { kind: 'write', names };
    // Under SERIALIZABLE a read is a lock (MySQL: LOCK IN SHARE MODE) or a predicate lock (PostgreSQL).
    return { kind: plan.isolation === 'serializable' ? 'write' : 'read', names };
  }
  if (first === 'insert' || first === 'update' || first === 'delete') return { kind: 'write', names };
  return opaque;
}

/**
 * Setup that makes one table's statements touch another unseen: foreign keys (a child row locks
 * its parent), triggers, rules, views, row security policies, inheritance and partitions, and
 * sequences shared by tables (the order of inserts decides who gets which number). With any of
 * them, no reduction at all.
 */
const HIDDEN = /\b(references|foreign\s+key|trigger|rule|view|policy|inherits|partition|sequence|nextval)\b/i;

export interface Independence {
  /** Whether step `i` of worker `a` and step `j` of worker `b` (a ≠ b) cannot conflict. */
  independent(a: number, i: number, b: number, j: number): boolean;
  /** Why nothing can be reduced, when nothing can (for the report). */
  readonly none: string | null;
}

export function independence(plan: VariantPlan): Independence {
  const hidden = plan.setup.find((s) => HIDDEN.test(s.sql));
  if (hidden) {
    return {
      independent: () => false,
      none: `setup line ${hidden.line} declares a foreign key, trigger, rule, view, policy, partition or sequence`,
    };
  }
  const fps = footprints(plan);
  const all = fps.map((steps) => new Set(steps.flatMap((f) => [...f.names])));
  // Two reads commute when nothing in the run can make a read wait (LOCK TABLE, DDL, a function).
  const readsCommute = fps.every((steps) => steps.every((f) => f.kind !== 'opaque'));
  const disjoint = (names: ReadonlySet<string>, other: ReadonlySet<string>) => ![...names].some((n) => other.has(n));
  return {
    none: null,
    independent(a, i, b, j) {
      const x = fps[a]![i]!;
      const y = fps[b]![j]!;
      if (x.kind === 'local' || y.kind === 'local') return true;
      if (x.kind === 'end' || y.kind === 'end' || x.kind === 'opaque' || y.kind === 'opaque') return false;
      if (x.kind === 'read' && y.kind === 'read' && readsCommute) return true;
      // One write lock for the whole database (SQLite): two writes wait for each other whatever
      // tables they name, so their order decides who waits and who fails.
      if (ONE_WRITE_LOCK[plan.engine] && x.kind === 'write' && y.kind === 'write') return false;
      // Neither step names anything the other worker ever touches: neither can wait for the
      // other worker's locks, so no deadlock between them depends on their order.
      return disjoint(x.names, all[b]!) && disjoint(y.names, all[a]!);
    },
  };
}
