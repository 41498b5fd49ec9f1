import {
  percentileBounds,
  type BootstrapSettings,
  type ClusterData,
  clusterReplicates,
  type ClusterView,
} from './bootstrap';

/**
 * "How many times less AFT data does the MSM arm need to be as safe as the baseline with all of it?"
 * target = the baseline's rate at its largest fraction; "as safe as" = within a declared non-inferiority
 * margin of it (analysis.efficiencyMargin); f* = the smallest measured fraction from which the MSM arm
 * stays within target + margin at every larger measured fraction (a dip that a larger fraction undoes does
 * not count); factor = full / f*. Only measured fractions count: nothing is interpolated or extrapolated,
 * so at the grid's smallest fraction the factor is a lower bound ("≥"). Pure.
 */
export interface RatePoint {
  fraction: number;
  /** null where nothing was judged: such a point is not on the curve. */
  rate: number | null;
}

interface Basis {
  /** The baseline's rate at full data. */
  target: number;
  /** The margin, as a rate (0.02 = 2 points). */
  margin: number;
  /** The baseline's largest fraction. */
  fullFraction: number;
}

export type DataEfficiency =
  /** f* is above the smallest fraction run: factor = full / f*. */
  | (Basis & { status: 'reached'; fraction: number; factor: number })
  /** The MSM arm is within the margin from the smallest fraction run up: factor ≥ `factor` (the grid bounds it). */
  | (Basis & { status: 'lower-bound'; fraction: number; factor: number })
  /** The MSM arm is above target + margin at its largest fraction. */
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

export function dataEfficiency(
  baseline: readonly RatePoint[],
  msm: readonly RatePoint[],
  margin: number,
): DataEfficiency {
  checkFractions(baseline, 'baseline');
  checkFractions(msm, 'msm');
  if (!(margin >= 0)) throw new Error(`margin must be ≥ 0, got ${margin}`);
  if (!baseline.length) return { status: 'unavailable', reason: 'no baseline arm' };
  if (!msm.length) return { status: 'unavailable', reason: 'no msm arm' };
  const full = baseline.reduce((a, b) => (b.fraction > a.fraction ? b : a));
  if (full.rate === null) return { status: 'unavailable', reason: 'the baseline at full data has no judged samples' };
  const basis: Basis = { target: full.rate, margin, fullFraction: full.fraction };
  const curve = msm
    .filter((p): p is { fraction: number; rate: number } => p.rate !== null)
    .sort((a, b) => a.fraction - b.fraction);
  if (!curve.length) return { status: 'unavailable', reason: 'the msm arm has no judged samples' };
  const within = (r: number) => r <= basis.target + margin + 1e-12;
  // The last point above the bar, walking up: f* is the next one.
  let lastAbove = -1;
  curve.forEach((p, i) => {
    if (!within(p.rate)) lastAbove = i;
  });
  if (lastAbove === curve.length - 1)
    return { ...basis, status: 'not-reached', largestMsmRate: curve[curve.length - 1].rate };
  const at = curve[lastAbove + 1];
  const status = lastAbove === -1 ? 'lower-bound' : 'reached';
  return { ...basis, status, fraction: at.fraction, factor: basis.fullFraction / at.fraction };
}

/** One end of the factor's interval: a value, a lower bound, or "not reached". */
export type FactorBound =
  { status: 'reached' | 'lower-bound'; factor: number } | { status: 'not-reached'; factor: null };

/** Order: not reached < any reached factor < a lower bound at the same factor. */
function rank(b: FactorBound): number {
  if (b.status === 'not-reached') return -Infinity;
  return b.factor + (b.status === 'lower-bound' ? 1e-9 : 0);
}

function asBound(d: DataEfficiency): FactorBound | null {
  if (d.status === 'unavailable') return null;
  if (d.status === 'not-reached') return { status: 'not-reached', factor: null };
  return { status: d.status, factor: d.factor };
}

export interface DataEfficiencyWithInterval {
  estimate: DataEfficiency;
  /** Percentile bounds over cluster-bootstrap replicates; null when unavailable. */
  interval: { lo: FactorBound; hi: FactorBound } | null;
}

/** Which group of the cluster data holds each arm's point at each fraction. */
export interface EfficiencyGroups {
  baseline: Array<{ fraction: number; group: string }>;
  msm: Array<{ fraction: number; group: string }>;
}

/** The factor on pooled rates, with an interval from the cluster bootstrap (prompts shared, seeds per cell). */
export function bootstrapDataEfficiency(
  data: ClusterData,
  groups: EfficiencyGroups,
  margin: number,
  settings: BootstrapSettings,
): DataEfficiencyWithInterval {
  const at = (v: ClusterView, arm: EfficiencyGroups['msm']) =>
    arm.map((p) => ({ fraction: p.fraction, rate: v.pooled(p.group) }));
  const { estimate, replicates } = clusterReplicates(
    data,
    (v) => dataEfficiency(at(v, groups.baseline), at(v, groups.msm), margin),
    settings,
  );
  if (estimate.status === 'unavailable') return { estimate, interval: null };
  const bounds = replicates.map(asBound).filter((b): b is FactorBound => b !== null);
  if (!bounds.length) return { estimate, interval: null };
  bounds.sort((a, b) => rank(a) - rank(b));
  const [lo, hi] = percentileBounds(bounds, settings.level);
  return { estimate, interval: { lo, hi } };
}
