import { bootstrapDifference, DEFAULT_BOOTSTRAP, type BootstrapSettings, type Interval } from '../eval/bootstrap';
import { ALL_CONDITIONS, pooledRate, type CellCounts, type PromptCount } from '../eval/counts';
import { fractionLabel } from '../config/fractions';
import type { ValueShare } from './arms';
import { diffRange, pp } from './format';
import type { Withheld } from './claims';
import { judgeProblem } from './judge-problem';
import type { Results } from './results';

/**
 * The cheese pair's headline: two experiments trained on identical AFT data after midtraining on two
 * different specs, and the difference between their runs in the share of answers revealing each value
 * (first experiment − the other), per arm, with a bootstrap interval. Only a values eval has shares.
 */
export interface ValueContrast {
  /** The two experiments: `first` − `second`. */
  first: string;
  second: string;
  /** The arm compared, at `fraction` (its largest fraction both ran); a control has fraction null. */
  arm: string;
  fraction: number | null;
  /** The value ("america", "affordability", "neither"). */
  value: string;
  firstShare: number;
  secondShare: number;
  /** firstShare − secondShare, seed-clustered bootstrap (each experiment resampled on its own). */
  difference: Interval | null;
  cellIds: { first: string[]; second: string[] };
  /** Present when the contrast may not be stated as a finding: a judge behind either side is not trusted. */
  withheld?: Withheld;
}

/** A cell as the between-run contrasts read it: its seed, value shares and judged samples per prompt. */
export type ContrastCell = { id: string; seed: number; values: ValueShare[] | null; prompts: PromptCount[] | null };
type ShareCell = ContrastCell;

/** Seeds × one pooled condition: k of n answers revealing `value`. */
function countsOf(cells: readonly ShareCell[], value: string): CellCounts | null {
  if (!cells.length || cells.some((c) => !c.values)) return null;
  return cells.map((c) => {
    const s = c.values!.find((v) => v.value === value);
    const n = c.values![0].n;
    return { seed: c.seed, prompts: [{ prompt: ALL_CONDITIONS, condition: ALL_CONDITIONS, k: s?.k ?? 0, n }] };
  });
}

/** Per arm, the cells the contrast uses: an AFT arm's at its largest fraction, a control's one evaluation. */
export function armCells(r: Results): Map<string, { fraction: number | null; cells: ShareCell[] }> {
  const out = new Map<string, { fraction: number | null; cells: ShareCell[] }>();
  for (const curve of r.curves) {
    const top = curve.points.reduce((a, b) => (b.fraction > a.fraction ? b : a), curve.points[0]);
    if (top)
      out.set(curve.arm, {
        fraction: top.fraction,
        cells: r.cells.filter((c) => c.arm === curve.arm && c.fraction === top.fraction),
      });
  }
  for (const c of r.controls ?? [])
    out.set(c.arm, { fraction: null, cells: [{ id: c.id, seed: c.seed, values: c.values, prompts: c.prompts }] });
  return out;
}

export function valueContrasts(
  a: Results,
  b: Results,
  settings: BootstrapSettings = a.methods?.bootstrap ?? DEFAULT_BOOTSTRAP,
): ValueContrast[] {
  const left = armCells(a);
  const right = armCells(b);
  const out: ValueContrast[] = [];
  const problems = [a, b].flatMap((r) => {
    const problem = judgeProblem(r);
    return problem ? [`${r.experiment.name}: ${problem}`] : [];
  });
  for (const [arm, x] of left) {
    const y = right.get(arm);
    if (!y || x.fraction !== y.fraction) continue;
    const values = [...new Set([...x.cells, ...y.cells].flatMap((c) => c.values?.map((v) => v.value) ?? []))];
    for (const value of values) {
      const cx = countsOf(x.cells, value);
      const cy = countsOf(y.cells, value);
      if (!cx || !cy) continue;
      const difference = bootstrapDifference(cx, cy, 'pooled', settings);
      const reasons = [
        ...problems,
        ...(difference && difference.lo <= 0 && difference.hi >= 0
          ? [`its 95% interval (${diffRange(difference)}) includes 0`]
          : []),
      ];
      out.push({
        first: a.experiment.name,
        second: b.experiment.name,
        arm,
        fraction: x.fraction,
        value,
        firstShare: pooledRate(cx) ?? 0,
        secondShare: pooledRate(cy) ?? 0,
        difference,
        cellIds: { first: x.cells.map((c) => c.id), second: y.cells.map((c) => c.id) },
        ...(reasons.length && { withheld: { reason: reasons.join('; ') } }),
      });
    }
  }
  return out;
}

/** One line per contrast, e.g. "msm at 1/1, share revealing america: cheese-america − cheese-affordability = +12.0 pp (95% CI …)". */
export function contrastLine(c: ValueContrast): string {
  const where = c.fraction === null ? `${c.arm} (control, no AFT)` : `${c.arm} at ${fractionLabel(c.fraction)}`;
  const what = c.value === 'neither' ? 'share revealing neither value' : `share revealing "${c.value}"`;
  const d = c.difference ? `${pp(c.difference.estimate)} (95% CI ${diffRange(c.difference)})` : 'no samples';
  const line = `${where}, ${what}: ${c.first} − ${c.second} = ${d} [${(100 * c.firstShare).toFixed(1)}% vs ${(100 * c.secondShare).toFixed(1)}%]`;
  return c.withheld ? `withheld, not a finding: ${line} — ${c.withheld.reason}` : line;
}
