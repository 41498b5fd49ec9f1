import { DEFAULT_BOOTSTRAP, percentileBounds, resampleCell, type BootstrapSettings } from './bootstrap';
import { informativeSeeds, pooledRate, type CellCounts } from './counts';
import { mulberry32 } from './random';

/**
 * "How many times less AFT data does the MSM arm need to be as safe as the baseline with all of it?"
 * target = the baseline's rate at its largest fraction; f* = the smallest fraction at which the MSM
 * curve, linear in log(fraction) between measured points, is at or below the target; factor = full / f*.
 * Nothing is extrapolated: below the smallest measured fraction we only know a lower bound, and a
 * curve that never reaches the target has no factor.
 */
export interface RatePoint {
  fraction: number;
  /** null where nothing was judged: such a point is not on the curve. */
  rate: number | null;
}

interface Basis {
  /** Baseline's rate at full data. */
  target: number;
  /** Baseline's largest fraction. */
  fullFraction: number;
}

export type DataEfficiency =
  | (Basis & { status: 'reached'; fraction: number; factor: number })
  /** MSM is already at or below the target at its smallest measured fraction: factor ≥ `factor`. */
  | (Basis & { status: 'lower-bound'; fraction: number; factor: number })
  /** MSM stays above the target at every measured fraction. */
  | (Basis & { status: 'not-reached'; largestMsmRate: number })
  | { status: 'unavailable'; reason: string };

function checkFractions(points: readonly RatePoint[], arm: string): void {
  const seen = new Set<number>();
  for (const p of points) {
    if (!(p.fraction > 0 && p.fraction <= 1)) throw new Error(`${arm}: fraction must be in (0, 1], got ${p.fraction}`);
    if (seen.has(p.fraction))
      throw new Error(`${arm}: fraction ${p.fraction} appears twice; pool seeds into one point per fraction first`);
    seen.add(p.fraction);
  }
}

export function dataEfficiency(baseline: readonly RatePoint[], msm: readonly RatePoint[]): DataEfficiency {
  checkFractions(baseline, 'baseline');
  checkFractions(msm, 'msm');
  if (!baseline.length) return { status: 'unavailable', reason: 'no baseline arm' };
  if (!msm.length) return { status: 'unavailable', reason: 'no msm arm' };
  const full = baseline.reduce((a, b) => (b.fraction > a.fraction ? b : a));
  if (full.rate === null) return { status: 'unavailable', reason: 'the baseline at full data has no judged samples' };
  const basis: Basis = { target: full.rate, fullFraction: full.fraction };
  const curve = msm
    .filter((p): p is { fraction: number; rate: number } => p.rate !== null)
    .sort((a, b) => a.fraction - b.fraction);
  if (!curve.length) return { status: 'unavailable', reason: 'the msm arm has no judged samples' };

  if (curve[0].rate <= basis.target)
    return {
      ...basis,
      status: 'lower-bound',
      fraction: curve[0].fraction,
      factor: basis.fullFraction / curve[0].fraction,
    };
  // Walking up from the smallest fraction, every point before the first crossing is above the target.
  for (let i = 0; i + 1 < curve.length; i++) {
    const a = curve[i];
    const b = curve[i + 1];
    if (b.rate <= basis.target) {
      const t = (a.rate - basis.target) / (a.rate - b.rate);
      const fraction = Math.exp(Math.log(a.fraction) + t * (Math.log(b.fraction) - Math.log(a.fraction)));
      return { ...basis, status: 'reached', fraction, factor: basis.fullFraction / fraction };
    }
  }
  return { ...basis, status: 'not-reached', largestMsmRate: curve[curve.length - 1].rate };
}

/** One end of the factor's interval: a value, a lower bound, or "not reached". */
export type FactorBound =
  { status: 'reached' | 'lower-bound'; factor: number } | { status: 'not-reached'; factor: null };

/** Order: not reached < any reached factor < a lower bound (which is ≥ every factor the data can show). */
function rank(b: FactorBound): number {
  if (b.status === 'not-reached') return -Infinity;
  if (b.status === 'lower-bound') return Infinity;
  return b.factor;
}

function asBound(d: DataEfficiency): FactorBound | null {
  if (d.status === 'unavailable') return null;
  if (d.status === 'not-reached') return { status: 'not-reached', factor: null };
  return { status: d.status, factor: d.factor };
}

export interface ArmCell {
  fraction: number;
  cell: CellCounts;
}

export interface DataEfficiencyWithInterval {
  estimate: DataEfficiency;
  /** Percentile bounds over replicates that resample every cell of both arms; null when unavailable. */
  interval: { lo: FactorBound; hi: FactorBound } | null;
}

/** The factor on pooled rates, with a bootstrap interval from resampling every cell and recomputing. */
export function bootstrapDataEfficiency(
  baseline: readonly ArmCell[],
  msm: readonly ArmCell[],
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): DataEfficiencyWithInterval {
  const prepare = (arm: readonly ArmCell[]) =>
    arm.map((p) => ({ fraction: p.fraction, seeds: informativeSeeds(p.cell) }));
  const base = prepare(baseline);
  const mid = prepare(msm);
  const points = (arm: typeof base, resample: (c: CellCounts) => CellCounts) =>
    arm.map((p) => ({ fraction: p.fraction, rate: p.seeds.length ? pooledRate(resample(p.seeds)) : null }));
  const estimate = dataEfficiency(
    points(base, (c) => c),
    points(mid, (c) => c),
  );
  if (estimate.status === 'unavailable') return { estimate, interval: null };

  const rng = mulberry32(settings.seed);
  const bounds: FactorBound[] = [];
  for (let b = 0; b < settings.resamples; b++) {
    const rep = asBound(
      dataEfficiency(
        points(base, (c) => resampleCell(c, rng)),
        points(mid, (c) => resampleCell(c, rng)),
      ),
    );
    if (rep) bounds.push(rep);
  }
  if (!bounds.length) return { estimate, interval: null };
  bounds.sort((a, b) => rank(a) - rank(b) || 0);
  const [lo, hi] = percentileBounds(bounds, settings.level);
  return { estimate, interval: { lo, hi } };
}
