import { aftSubsetSize } from '../config/aft-mix';
import { fractionLabel } from '../config/fractions';
import {
  DEFAULT_MIN_BALANCED_ACCURACY,
  type JudgeCalibrationResult,
  type KindCalibration,
} from '../eval/judge-calibration';
import type { RateInterval } from '../eval/stats';
import { pct, rateRange } from './format';

/**
 * The one place that decides whether a claim may be stated as a finding, and if not, why. results.json
 * carries its answer as `withheld: {reason}` beside each claim; the HTML page and the Markdown summary
 * only render what results.json says, so the three cannot disagree.
 */
export interface Withheld {
  reason: string;
}

/** The minimum AFT examples a fraction should train on when the experiment does not say (aft.minExamples). */
export const DEFAULT_MIN_EXAMPLES = 16;

/** Examples a fraction trains on (the trainer's rule, src/config/aft-mix.ts). */
export const examplesAt = (fraction: number, examples: number) => aftSubsetSize(examples, fraction);

export interface KindVerdict extends KindCalibration {
  passed: boolean;
}

/** The judge's calibration as the report states it. */
export interface CalibrationSection {
  /** not-run: no calibration was recorded; not-needed: every line is a forced choice parsed by code. */
  status: 'passed' | 'failed' | 'not-run' | 'not-needed';
  minBalancedAccuracy: number;
  judgeModel: string | null;
  kinds: KindVerdict[];
  /** Some lines are forced choices parsed by code (choice-parse): no judge decides them. */
  parsedByCode: boolean;
}

export function calibrationSection(
  result: JudgeCalibrationResult | null | undefined,
  minBalancedAccuracy = DEFAULT_MIN_BALANCED_ACCURACY,
): CalibrationSection {
  if (!result) return { status: 'not-run', minBalancedAccuracy, judgeModel: null, kinds: [], parsedByCode: false };
  const kinds = result.kinds.map((k) => ({ ...k, passed: k.balancedAccuracy >= minBalancedAccuracy }));
  const status = !kinds.length ? 'not-needed' : kinds.every((k) => k.passed) ? 'passed' : 'failed';
  return { status, minBalancedAccuracy, judgeModel: result.judgeModel, kinds, parsedByCode: result.parsedByCode };
}

export const kindFigures = (k: KindCalibration) =>
  `${k.kind}: balanced accuracy ${pct(k.balancedAccuracy)}, accuracy ${pct(k.accuracy)}, false positives ${pct(k.falsePositiveRate)} ` +
  `(${k.falsePositives}/${k.clean}), false negatives ${pct(k.falseNegativeRate)} (${k.falseNegatives}/${k.shows})`;

/** Why no verdict of this judge may count; null when its calibration passed or nothing needed a judge. */
export function calibrationProblem(c: CalibrationSection): string | null {
  if (c.status === 'not-run')
    return 'the judge was not calibrated on sets of known answers, so nothing shows its verdicts can be trusted';
  if (c.status !== 'failed') return null;
  // Short: the calibration section and the headline's first sentence give every figure.
  const failing = c.kinds
    .filter((k) => !k.passed)
    .map((k) => `${k.kind}: balanced accuracy ${pct(k.balancedAccuracy)}`)
    .join('; ');
  return `the judge failed calibration (${failing}; the bar is ${pct(c.minBalancedAccuracy)})`;
}

/** What a claim rests on, beyond the claim itself. */
export interface ClaimFacts {
  calibration: CalibrationSection;
  /** The baseline arm at its largest fraction: the safety level the study asks about. */
  baselineFull: { fraction: number; rate: RateInterval } | null;
  /** AFT examples in the data (null: unknown) and the floor a fraction must reach. */
  aft: { examples: number | null; minExamples: number };
}

export interface ComparedPoint {
  arm: string;
  fraction: number;
  rate: RateInterval;
}

export type Claim =
  /** The measured rates, as findings. */
  | { kind: 'rates' }
  /** msm − baseline at one fraction; `headline` for the one the report's answer states. */
  | { kind: 'difference'; fraction: number; compared: [ComparedPoint, ComparedPoint]; headline: boolean }
  /** The data-efficiency factor: the points it is read at, and every fraction its curves use. */
  | { kind: 'dataEfficiency'; compared: [ComparedPoint, ComparedPoint] | null; fractions: number[] };

/** At 0% or 100% within its interval: the eval cannot show the baseline getting better or worse. */
function floorOrCeiling(full: NonNullable<ClaimFacts['baselineFull']>): string | null {
  const r = full.rate;
  if (r.n === 0) return null;
  const at = r.lo <= 1e-9 ? 'floor (0%' : r.hi >= 1 - 1e-9 ? 'ceiling (100%' : null;
  if (!at) return null;
  return `the baseline's full-data rate is at the ${at} lies within its 95% interval: ${r.k}/${r.n}, ${rateRange(r)}), so the eval cannot show any arm doing better or worse`;
}

/** One interval inside the other: the data cannot tell the two points apart. */
export const overlapEntirely = (a: RateInterval, b: RateInterval) =>
  (a.lo <= b.lo && b.hi <= a.hi) || (b.lo <= a.lo && a.hi <= b.hi);

function indistinguishable([a, b]: [ComparedPoint, ComparedPoint]): string | null {
  if (!a.rate.n || !b.rate.n || !overlapEntirely(a.rate, b.rate)) return null;
  const show = (p: ComparedPoint) =>
    `${p.arm} at ${fractionLabel(p.fraction)} (${p.rate.k}/${p.rate.n}, ${rateRange(p.rate)})`;
  return `the 95% intervals of ${show(a)} and ${show(b)} overlap entirely, so the data cannot tell them apart`;
}

function tooFewExamples(fractions: readonly number[], aft: ClaimFacts['aft']): string | null {
  if (aft.examples === null) return null;
  const n = aft.examples;
  const under = [...new Set(fractions)].sort((a, b) => b - a).filter((f) => examplesAt(f, n) < aft.minExamples);
  if (!under.length) return null;
  const list = under.map((f) => `${fractionLabel(f)} trains on ${examplesAt(f, n)}`).join(', ');
  return `${list} of the ${n} AFT examples, under aft.minExamples = ${aft.minExamples}`;
}

/** May this claim be stated as a finding? null: yes; otherwise every reason it may not. */
export function withheldClaim(claim: Claim, facts: ClaimFacts): Withheld | null {
  const reasons: Array<string | null> = [calibrationProblem(facts.calibration)];
  if (claim.kind === 'difference') {
    if (claim.headline && facts.baselineFull) reasons.push(floorOrCeiling(facts.baselineFull));
    reasons.push(indistinguishable(claim.compared), tooFewExamples([claim.fraction], facts.aft));
  } else if (claim.kind === 'dataEfficiency') {
    if (facts.baselineFull) reasons.push(floorOrCeiling(facts.baselineFull));
    if (claim.compared) reasons.push(indistinguishable(claim.compared));
    reasons.push(tooFewExamples(claim.fractions, facts.aft));
  }
  const stated = reasons.filter((r): r is string => r !== null);
  return stated.length ? { reason: stated.join('; ') } : null;
}
