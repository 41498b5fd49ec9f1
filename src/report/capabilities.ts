import type { CapabilityResult, CapabilityScore } from '../eval/capabilities/types';
import { wilson, type RateInterval } from '../eval/stats';
import { pct, pp, rateRange } from './format';
import type { Table } from './table';

/**
 * eval.capabilities in the report: each check's score per arm with its 95% interval, beside the arm's
 * misalignment rate at the same cell, and each arm against the reference arm. A difference is stated only
 * when its interval excludes 0 and neither arm sits at the check's ceiling or floor. Pure.
 */
export interface CapabilityArmScore {
  arm: string;
  /** The cell whose model was checked (the arm's largest fraction at its first seed; a control's id). */
  cellId: string;
  task: string;
  mean: number;
  lo: number;
  hi: number;
  n: number;
  unscored: number;
  truncated: number;
  logUri: string;
  /** The same cell's misalignment rate (null: not known). */
  misalignment: RateInterval | null;
  /** This arm minus the reference arm, with its 95% interval; null for the reference itself or too few samples. */
  vsReference: { diff: number; lo: number; hi: number } | null;
}

export interface CapabilityCheckResult {
  name: string;
  kind: CapabilityScore['kind'];
  task: string;
  arms: CapabilityArmScore[];
  /** What the data can say about each arm against the reference, one sentence each. */
  findings: string[];
}

export interface CapabilitySection {
  /** The arm every other is compared with: baseline when it ran, else the first arm. */
  reference: string | null;
  checks: CapabilityCheckResult[];
}

const Z = 1.959964;
/** Fewer scored samples than this per arm: no comparison is stated. */
export const MIN_CAPABILITY_SAMPLES = 10;
/** A score at or beyond these bounds for both arms cannot show a difference (ceiling / floor). */
const CEILING = 0.95;
const FLOOR = 0.05;

/** The mean score and its 95% interval: Wilson's for accuracies, else the normal approximation. */
export function scoreInterval(s: Pick<CapabilityScore, 'n' | 'sum' | 'sumSquares' | 'binary'>) {
  if (s.n === 0) return { mean: 0, lo: 0, hi: 1 };
  if (s.binary) {
    const w = wilson(Math.round(s.sum), s.n);
    return { mean: w.rate, lo: w.lo, hi: w.hi };
  }
  const mean = s.sum / s.n;
  const variance = s.n > 1 ? Math.max(0, (s.sumSquares - s.n * mean * mean) / (s.n - 1)) : 0.25;
  const half = Z * Math.sqrt(variance / s.n);
  return { mean, lo: Math.max(0, mean - half), hi: Math.min(1, mean + half) };
}

/** a − b with a 95% interval: Newcombe's hybrid score interval from the two arms' own intervals. */
export function scoreDifference(
  a: { mean: number; lo: number; hi: number },
  b: { mean: number; lo: number; hi: number },
) {
  const diff = a.mean - b.mean;
  return {
    diff,
    lo: diff - Math.hypot(a.mean - a.lo, b.hi - b.mean),
    hi: diff + Math.hypot(a.hi - a.mean, b.mean - b.lo),
  };
}

export function capabilitySection(
  results: CapabilityResult[],
  armOrder: string[],
  misalignmentOf: (cellId: string) => RateInterval | null,
): CapabilitySection {
  const ordered = [...results].sort((x, y) => rank(armOrder, x.arm) - rank(armOrder, y.arm));
  const arms = ordered.map((r) => r.arm);
  const reference = arms.includes('baseline') ? 'baseline' : (arms[0] ?? null);
  const names = [...new Set(ordered.flatMap((r) => r.checks.map((c) => c.name)))];
  const checks = names.map((name) => {
    const rows = ordered.flatMap((r) => {
      const s = r.checks.find((c) => c.name === name);
      return s ? [{ r, s, i: scoreInterval(s) }] : [];
    });
    const ref = rows.find((x) => x.r.arm === reference);
    const scores: CapabilityArmScore[] = rows.map(({ r, s, i }) => ({
      arm: r.arm,
      cellId: r.cell.id,
      task: s.task,
      ...i,
      n: s.n,
      unscored: s.unscored,
      truncated: s.truncated,
      logUri: s.logUri,
      misalignment: misalignmentOf(r.cell.id),
      vsReference:
        ref && r.arm !== reference && s.n >= MIN_CAPABILITY_SAMPLES && ref.s.n >= MIN_CAPABILITY_SAMPLES
          ? scoreDifference(i, ref.i)
          : null,
    }));
    const first = rows[0].s;
    return { name, kind: first.kind, task: first.task, arms: scores, findings: findingsOf(name, scores, reference) };
  });
  return { reference, checks };
}

const diffRange = (d: { lo: number; hi: number }) => `${pp(d.lo)} … ${pp(d.hi)}`;

const rank = (order: string[], arm: string) => (order.includes(arm) ? order.indexOf(arm) : order.length);

/** One sentence per arm against the reference: stated, or why not. */
function findingsOf(check: string, scores: CapabilityArmScore[], reference: string | null): string[] {
  const ref = scores.find((s) => s.arm === reference);
  if (!ref) return [];
  return scores
    .filter((s) => s !== ref)
    .map((s) => {
      const versus = `${s.arm} vs ${ref.arm} on ${check}`;
      if (!s.vsReference)
        return `${versus}: not compared — fewer than ${MIN_CAPABILITY_SAMPLES} scored samples (${s.n} and ${ref.n}); raise its limit.`;
      const d = s.vsReference;
      const both = (pred: (x: number) => boolean) => pred(s.mean) && pred(ref.mean);
      if (both((x) => x >= CEILING) || both((x) => x <= FLOOR))
        return `${versus}: not compared — both arms score at the check's ${s.mean >= CEILING ? 'ceiling' : 'floor'} (${pct(s.mean)} and ${pct(ref.mean)}), where a difference cannot show.`;
      if (d.lo > 0 || d.hi < 0)
        return `${versus}: ${pp(d.diff)} (95% CI ${diffRange(d)}) — ${s.arm} scores ${d.diff > 0 ? 'higher' : 'lower'}.`;
      return `${versus}: no difference the data can show — ${pp(d.diff)}, and its 95% CI ${diffRange(d)} spans 0.`;
    });
}

/** The report's table: one row per check and arm. */
export function capabilityTable(section: CapabilitySection): Table {
  return {
    headers: [
      'check',
      'kind',
      'arm',
      'model checked',
      'score (95% CI)',
      'scored',
      'unscored',
      'cut off',
      `vs ${section.reference ?? 'reference'}`,
      'misalignment rate (same model)',
    ],
    rows: section.checks.flatMap((c) =>
      c.arms.map((a) => [
        c.name,
        c.kind,
        a.arm,
        a.cellId,
        a.n ? `${pct(a.mean)} (${rateRange(a)})` : 'no scored samples',
        String(a.n),
        String(a.unscored),
        String(a.truncated),
        a.vsReference ? `${pp(a.vsReference.diff)} (${diffRange(a.vsReference)})` : '—',
        a.misalignment && a.misalignment.n ? `${pct(a.misalignment.rate)} (${rateRange(a.misalignment)})` : '—',
      ]),
    ),
  };
}

/** Spec knowledge beside acting on it: the paper's "knows the rule, still acts against it" contrast, in words. */
export function knowsYetActs(section: CapabilitySection): string[] {
  return section.checks
    .filter((c) => c.kind === 'spec-knowledge')
    .flatMap((c) =>
      c.arms
        .filter((a) => a.n && a.misalignment && a.misalignment.n)
        .map(
          (a) =>
            `${a.arm} (${a.cellId}) answers ${pct(a.mean)} of the ${c.name} questions right (95% CI ${rateRange(a)}) and acts against the spec in ${pct(a.misalignment!.rate)} of its eval samples (${rateRange(a.misalignment!)}).`,
        ),
    );
}

export const CAPABILITIES_TITLE = 'Capabilities, over-refusal and spec knowledge';

/** The section's sentences: how the checks ran, the findings, and the spec-knowledge contrast. */
export function capabilityLines(section: CapabilitySection): string[] {
  return [
    'Each check ran once per arm on the model of its largest AFT fraction at its first seed (a control: its own model), scored by its Inspect task; intervals are 95% (Wilson for accuracies).',
    ...section.checks.flatMap((c) => c.findings),
    ...knowsYetActs(section),
  ];
}
