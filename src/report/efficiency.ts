import { bootstrapContrast } from '../eval/bootstrap';
import { bootstrapDataEfficiency, type DataEfficiencyWithInterval } from '../eval/data-efficiency';
import type { ControlPoint } from './arms';
import { unjudgedShift, withheldClaim, type ClaimFacts, type EfficiencyClaim, type Withheld } from './claims';
import type { CellGrid, RateStatsOf } from './result-cells';
import { pointGroup, type CurvePoint, type EfficiencyAmounts, type ResultCell } from './results-types';

/**
 * The data-efficiency factor of the report: msm against baseline, with the declared margin, its cluster
 * interval, the amounts of AFT data behind it (examples and tokens), and the gate's verdict. The gate asks
 * three things beyond the usual: is msm at f* within the margin of the full-data baseline by its interval
 * (non-inferiority, not just its point), does the msm-only control already reach the target (then the
 * factor says nothing about AFT), and could unjudged samples move it past the margin.
 */
export interface EfficiencyResult {
  efficiency: DataEfficiencyWithInterval;
  amounts: EfficiencyAmounts | null;
  withheld: Withheld | null;
}

type PointOf = (arm: string, fraction: number) => CurvePoint | undefined;

const mean = (xs: Array<number | null>) => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === xs.length && known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
};

/** AFT examples and tokens at full data (baseline) and at f* (msm): the factor in both units. */
function amountsOf(grid: CellGrid, fullFraction: number, fraction: number): EfficiencyAmounts {
  const at = (arm: string, f: number, of: (c: ResultCell) => number | null) => mean(grid.group(arm, f).map(of));
  const pair = (of: (c: ResultCell) => number | null) => {
    const full = at('baseline', fullFraction, of);
    const atFraction = at('msm', fraction, of);
    return full !== null && atFraction ? { full, atFraction, ratio: full / atFraction } : null;
  };
  return {
    fullFraction,
    fraction,
    // Examples the cell saw: a run cut short by maxSteps before its first epoch ends sees only part of its subset.
    examples: pair((c) => {
      const t = c.training;
      const n = t?.aftExamples ?? t?.examples ?? null;
      return n === null ? null : Math.round(n * Math.min(1, t?.epochs ?? 1));
    }),
    tokens: pair((c) => c.training?.tokens ?? null),
  };
}

/** The msm-only control (midtraining, no AFT), when its rate is within the margin of the target. */
function midtrainingAlone(controls: readonly ControlPoint[], target: number, margin: number) {
  const alone = controls.find((c) => c.arm === 'msm-only' && c.misalignment.n > 0);
  return alone && alone.misalignment.rate <= target + margin + 1e-12
    ? { rate: alone.misalignment.rate, target, margin }
    : null;
}

export function efficiencyOf(
  grid: CellGrid,
  controls: readonly ControlPoint[],
  margin: number,
  stats: RateStatsOf,
  facts: ClaimFacts,
  pointOf: PointOf,
): EfficiencyResult {
  const groups = (arm: string) =>
    grid.fractionsOf(arm).map((fraction) => ({ fraction, group: pointGroup(arm, fraction) }));
  const efficiency = bootstrapDataEfficiency(
    stats.data,
    { baseline: groups('baseline'), msm: groups('msm') },
    margin,
    stats.settings,
  );
  const est = efficiency.estimate;
  if (est.status === 'unavailable') return { efficiency, amounts: null, withheld: null };
  const full = pointOf('baseline', est.fullFraction);
  const fraction = est.status === 'not-reached' ? grid.fractionsOf('msm')[0] : est.fraction;
  const msmPoint = pointOf('msm', fraction);
  const shift = (p: CurvePoint | undefined) =>
    unjudgedShift(p?.misalignment.k ?? 0, p?.misalignment.n ?? 0, p?.unjudged ?? 0);
  const claim: EfficiencyClaim = {
    kind: 'dataEfficiency',
    fractions: [...grid.fractionsOf('baseline'), ...grid.fractionsOf('msm')],
    arms: ['baseline', 'msm'],
    nonInferiority:
      est.status === 'not-reached'
        ? null
        : {
            fraction,
            interval: bootstrapContrast(
              stats.data,
              pointGroup('msm', fraction),
              pointGroup('baseline', est.fullFraction),
              'pooled',
              stats.settings,
            ),
            margin,
          },
    midtrainingAlone: midtrainingAlone(controls, est.target, margin),
    baselineFull: full ? { arm: 'baseline', fraction: est.fullFraction, rate: full.misalignment } : null,
    shift: { arm: shift(msmPoint), versus: shift(full) },
    truncated: { arm: msmPoint?.truncated ?? null, versus: full?.truncated ?? null },
  };
  return {
    efficiency,
    amounts: est.status === 'not-reached' ? null : amountsOf(grid, est.fullFraction, fraction),
    withheld: withheldClaim(claim, facts),
  };
}
