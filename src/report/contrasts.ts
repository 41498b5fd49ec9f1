import { fractionLabel } from '../config/fractions';
import { bootstrapContrast, clusterReplicates, percentileInterval } from '../eval/bootstrap';
import { holmAdjust } from '../eval/holm';
import { unjudgedShift, withheldClaim, type ClaimFacts, type ContrastClaim } from './claims';
import type { CellGrid, RateStatsOf } from './result-cells';
import { pointGroup, type AnalysisPlan, type Contrast, type CurvePoint, type Results } from './results-types';

/**
 * The contrasts of a report: every trained arm against the reference arm (the primary's `versus`,
 * baseline by default) at every fraction both ran. One of them is the primary outcome, declared in the
 * experiment file before the run (default: msm − baseline at the largest fraction both ran); it is tested
 * at 95% unadjusted. Every other contrast is secondary: its p-value is adjusted by Holm over all of them.
 */
export function resolvePrimary(plan: AnalysisPlan | undefined, grid: CellGrid): Results['analysis']['primary'] {
  const p = plan?.primary ?? {};
  const arm = p.arm ?? 'msm';
  const versus = p.versus ?? 'baseline';
  const declared =
    p.arm !== undefined || p.versus !== undefined || (p.fraction !== undefined && p.fraction !== 'largest');
  const shared = grid.fractionsOf(arm).filter((f) => grid.fractionsOf(versus).includes(f));
  const wanted = p.fraction === undefined || p.fraction === 'largest' ? shared[0] : p.fraction;
  const fraction = wanted !== undefined && shared.some((f) => Math.abs(f - wanted) < 1e-12) ? wanted : null;
  return { arm, versus, fraction, declared };
}

type PointOf = (arm: string, fraction: number) => CurvePoint | undefined;

function contrastOf(
  arm: string,
  versus: string,
  fraction: number,
  primary: Results['analysis']['primary'],
  grid: CellGrid,
  stats: RateStatsOf,
): Contrast {
  const a = pointGroup(arm, fraction);
  const b = pointGroup(versus, fraction);
  const withConditions = [...grid.group(arm, fraction), ...grid.group(versus, fraction)].every((c) => c.conditions);
  const corrected = clusterReplicates(
    stats.data,
    (v, draw) => {
      const x = stats.corrected(v, a, draw);
      const y = stats.corrected(v, b, draw);
      return x === null || y === null ? null : x - y;
    },
    stats.settings,
  );
  const isPrimary = arm === primary.arm && versus === primary.versus && fraction === primary.fraction;
  return {
    arm,
    versus,
    fraction,
    fractionLabel: fractionLabel(fraction),
    role: isPrimary ? 'primary' : 'secondary',
    cellIds: [...grid.group(arm, fraction), ...grid.group(versus, fraction)].map((c) => c.id),
    pooled: bootstrapContrast(stats.data, a, b, 'pooled', stats.settings),
    macro: withConditions ? bootstrapContrast(stats.data, a, b, 'macro', stats.settings) : null,
    corrected: percentileInterval(corrected.estimate, corrected.replicates, stats.settings.level),
    pHolm: null,
    unjudged: {
      arm: grid.group(arm, fraction).reduce((s, c) => s + c.unjudged, 0),
      versus: grid.group(versus, fraction).reduce((s, c) => s + c.unjudged, 0),
    },
  };
}

/**
 * Every contrast with the reference arm, the primary first, secondary p-values Holm-adjusted. `extra`:
 * further pairs to contrast (each msm arm against its placebo: MSM's content beyond more training), in
 * the same Holm family; a pair already contrasted with the reference is not repeated.
 */
export function buildContrasts(
  armOrder: readonly string[],
  primary: Results['analysis']['primary'],
  grid: CellGrid,
  stats: RateStatsOf,
  extra: ReadonlyArray<readonly [arm: string, versus: string]> = [],
): Contrast[] {
  const versus = primary.versus;
  const pairs = [
    ...armOrder.filter((arm) => arm !== versus).map((arm) => [arm, versus] as const),
    ...extra.filter(([a, v]) => v !== versus && a !== versus && armOrder.includes(a) && armOrder.includes(v)),
  ];
  const all = pairs.flatMap(([arm, ref]) =>
    grid
      .fractionsOf(arm)
      .filter((f) => grid.fractionsOf(ref).includes(f))
      .map((f) => contrastOf(arm, ref, f, primary, grid, stats)),
  );
  const secondary = all.filter((c) => c.role === 'secondary' && c.pooled);
  holmAdjust(secondary.map((c) => c.pooled!.p)).forEach((p, i) => (secondary[i].pHolm = p));
  return [...all.filter((c) => c.role === 'primary'), ...all.filter((c) => c.role === 'secondary')];
}

/** The gate's view of a contrast: its interval, adjusted p, and how unjudged samples could move it. */
export function contrastClaim(c: Contrast, family: number, pointOf: PointOf): ContrastClaim {
  const shift = (arm: string, u: number) => {
    const p = pointOf(arm, c.fraction)?.misalignment;
    return unjudgedShift(p?.k ?? 0, p?.n ?? 0, u);
  };
  return {
    kind: 'contrast',
    role: c.role,
    arm: c.arm,
    versus: c.versus,
    fraction: c.fraction,
    interval: c.pooled,
    pHolm: c.pHolm,
    family,
    shift: { arm: shift(c.arm, c.unjudged.arm), versus: shift(c.versus, c.unjudged.versus) },
    truncated: {
      arm: pointOf(c.arm, c.fraction)?.truncated ?? null,
      versus: pointOf(c.versus, c.fraction)?.truncated ?? null,
    },
  };
}

/** Mark every contrast that may not be stated as a finding. */
export function gateContrasts(contrasts: Contrast[], facts: ClaimFacts, pointOf: PointOf): void {
  const family = contrasts.filter((c) => c.role === 'secondary' && c.pooled).length;
  for (const c of contrasts) {
    if (!c.pooled) continue;
    const withheld = withheldClaim(contrastClaim(c, family, pointOf), facts);
    if (withheld) c.withheld = withheld;
  }
}
