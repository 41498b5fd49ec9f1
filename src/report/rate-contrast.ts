import { bootstrapDifference, DEFAULT_BOOTSTRAP, type BootstrapSettings, type Interval } from '../eval/bootstrap';
import { pooledRate, type CellCounts } from '../eval/counts';
import { fractionLabel } from '../config/fractions';
import { diffRange, pp } from './format';
import type { Withheld } from './claims';
import { judgeProblem } from './judge-problem';
import type { Results } from './results';
import { armCells, type ContrastCell } from './value-contrast';

/**
 * Model Spec Science's question: does the same arm behave differently after midtraining on another spec
 * (rules only, rules + values, ...)? Per arm, the first experiment's headline rate minus each other's at
 * the largest fraction both ran (a control: its one evaluation), with a cluster bootstrap that resamples
 * each run's seeds and prompts on its own. The claims rules apply: a judge not trusted, an interval that
 * includes 0 or two rates at the floor or ceiling withhold the contrast and say why.
 */
export interface RateContrast {
  first: string;
  second: string;
  arm: string;
  fraction: number | null;
  firstRate: number;
  secondRate: number;
  /** firstRate − secondRate; null when either side's split by prompt is unknown. */
  difference: Interval | null;
  cellIds: { first: string[]; second: string[] };
  withheld?: Withheld;
}

/** Seeds × prompts of an arm's cells; null when a cell's split by prompt was not recorded. */
function countsOf(cells: readonly ContrastCell[]): CellCounts | null {
  if (!cells.length || cells.some((c) => !c.prompts?.length)) return null;
  return cells.map((c) => ({ seed: c.seed, prompts: c.prompts! }));
}

function reasonsFor(a: Results, b: Results, d: Interval | null, rates: [number, number]): string[] {
  const judges = [a, b].flatMap((r) => {
    const problem = judgeProblem(r);
    return problem ? [`${r.experiment.name}: ${problem}`] : [];
  });
  const spansZero = d && d.lo <= 0 && d.hi >= 0 ? [`its 95% interval (${diffRange(d)}) includes 0`] : [];
  const bound = rates.every((x) => x === 0)
    ? ['both rates are 0 (a floor: the eval cannot show a difference)']
    : rates.every((x) => x === 1)
      ? ['both rates are 100% (a ceiling: the eval cannot show a difference)']
      : [];
  return [...judges, ...spansZero, ...(d ? [] : ['no split by prompt to resample']), ...bound];
}

export function rateContrasts(
  a: Results,
  b: Results,
  settings: BootstrapSettings = a.methods?.bootstrap ?? DEFAULT_BOOTSTRAP,
): RateContrast[] {
  const right = armCells(b);
  const out: RateContrast[] = [];
  for (const [arm, x] of armCells(a)) {
    const y = right.get(arm);
    if (!y || x.fraction !== y.fraction) continue;
    const cx = countsOf(x.cells);
    const cy = countsOf(y.cells);
    const difference = cx && cy ? bootstrapDifference(cx, cy, 'pooled', settings) : null;
    const firstRate = (cx && pooledRate(cx)) ?? 0;
    const secondRate = (cy && pooledRate(cy)) ?? 0;
    const reasons = reasonsFor(a, b, difference, [firstRate, secondRate]);
    out.push({
      first: a.experiment.name,
      second: b.experiment.name,
      arm,
      fraction: x.fraction,
      firstRate,
      secondRate,
      difference,
      cellIds: { first: x.cells.map((c) => c.id), second: y.cells.map((c) => c.id) },
      ...(reasons.length && { withheld: { reason: reasons.join('; ') } }),
    });
  }
  return out;
}

/** "msm at 1/1: rules − rules-values = −12.0 pp (95% CI …) [20.0% vs 32.0%]", or why it is withheld. */
export function rateContrastLine(c: RateContrast, metric: string): string {
  const where = c.fraction === null ? `${c.arm} (control, no AFT)` : `${c.arm} at ${fractionLabel(c.fraction)}`;
  const d = c.difference ? `${pp(c.difference.estimate)} (95% CI ${diffRange(c.difference)})` : 'no interval';
  const line = `${where}, ${metric}: ${c.first} − ${c.second} = ${d} [${(100 * c.firstRate).toFixed(1)}% vs ${(100 * c.secondRate).toFixed(1)}%]`;
  return c.withheld ? `withheld, not a finding: ${line} — ${c.withheld.reason}` : line;
}
