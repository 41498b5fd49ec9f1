import { aftSubsetSize } from '../config/aft-mix';
import { fractionLabel } from '../config/fractions';
import type { Interval } from '../eval/bootstrap';
import {
  DEFAULT_CALIBRATION_BAR,
  type CalibrationBar,
  type JudgeCalibrationResult,
  type KindCalibration,
} from '../eval/judge-calibration';

export { DEFAULT_CALIBRATION_BAR, type CalibrationBar };
import { clopperPearsonUpper, type RateInterval } from '../eval/stats';
import { pct, pp, rateRange } from './format';

/**
 * The one place that decides whether a claim may be stated as a finding, and if not, why. results.json
 * carries its answer as `withheld: {reason}` beside each claim; the HTML page and the Markdown summary
 * only render what results.json says, so the three cannot disagree. docs/analysis.md explains each rule.
 */
export interface Withheld {
  reason: string;
}

/** The minimum AFT examples a fraction should train on when the experiment does not say (aft.minExamples). */
export const DEFAULT_MIN_EXAMPLES = 16;
/** The minimum optimizer steps a cell should take when the experiment does not say (aft.minSteps). */
export const DEFAULT_MIN_STEPS = 4;
/** Significance level of every test: a 95% interval, a Holm-adjusted p below 0.05. */
export const ALPHA = 0.05;

/** Examples a fraction trains on (the trainer's rule, src/config/aft-mix.ts). */
export const examplesAt = (fraction: number, examples: number) => aftSubsetSize(examples, fraction);

export interface KindVerdict extends KindCalibration {
  /** 95% upper bounds of the error rates, counting unjudged items as errors. */
  falsePositiveUpper: number;
  falseNegativeUpper: number;
  passed: boolean;
  /** Why it failed, one phrase per broken bar; empty when it passed. */
  failures: string[];
  /** Judging stopped early: where, and the bar it could no longer reach ("stopped after 4 of 240 items: cannot reach …"). */
  stopped?: string;
}

/** The judge's calibration as the report states it. */
export interface CalibrationSection {
  /** not-run: no calibration was recorded; not-needed: every line is a forced choice parsed by code. */
  status: 'passed' | 'failed' | 'not-run' | 'not-needed';
  bar: CalibrationBar;
  judgeModel: string | null;
  kinds: KindVerdict[];
  /** Some lines are forced choices parsed by code (choice-parse): no judge decides them. */
  parsedByCode: boolean;
  /** Why no calibration was run, when msm knows (e.g. an Inspect task's own grader). */
  missing?: string;
}

/**
 * A kind against the bar. A judge stopped early (it could no longer pass) is bounded as if it had got every
 * item it was not asked right: the most favourable reading of the whole set, which it still fails.
 */
function kindVerdict(k: KindCalibration, bar: CalibrationBar): KindVerdict {
  const stop = k.stoppedEarly;
  const falsePositiveUpper = clopperPearsonUpper(k.falsePositives, stop?.setClean ?? k.clean, bar.level);
  const falseNegativeUpper = clopperPearsonUpper(k.falseNegatives, stop?.setShows ?? k.shows, bar.level);
  const failures: string[] = [];
  const counted = (errors: number, judged: number, set: number | undefined, what: string) =>
    set === undefined ? `${errors}/${judged}` : `${errors} in the first ${judged} of ${set} ${what} items`;
  if (falsePositiveUpper > bar.maxFalsePositiveRate)
    failures.push(
      `false positives ${counted(k.falsePositives, k.clean, stop?.setClean, 'clean')}, upper bound ${pct(falsePositiveUpper)} > ${pct(bar.maxFalsePositiveRate)}`,
    );
  if (falseNegativeUpper > bar.maxFalseNegativeRate)
    failures.push(
      `false negatives ${counted(k.falseNegatives, k.shows, stop?.setShows, 'showing')}, upper bound ${pct(falseNegativeUpper)} > ${pct(bar.maxFalseNegativeRate)}`,
    );
  if (bar.minBalancedAccuracy !== null && k.balancedAccuracy < bar.minBalancedAccuracy)
    failures.push(`balanced accuracy ${pct(k.balancedAccuracy)} < ${pct(bar.minBalancedAccuracy)}`);
  const cannotReach = [
    falsePositiveUpper > bar.maxFalsePositiveRate && `a false-positive upper bound ≤ ${pct(bar.maxFalsePositiveRate)}`,
    falseNegativeUpper > bar.maxFalseNegativeRate && `a false-negative upper bound ≤ ${pct(bar.maxFalseNegativeRate)}`,
  ].filter((x): x is string => !!x);
  // A stopped kind never passes: the items it was not asked are unknown, so no bar can be met on them (a looser
  // bar than the one it was stopped against, or labels joined later, would otherwise pass half a calibration).
  const stopped = stop
    ? `stopped after ${stop.judged} of ${stop.of} items: ${cannotReach.length ? `cannot reach ${cannotReach.join(' or ')}` : 'the rest were never judged'}`
    : undefined;
  if (stopped) failures.push(`judging ${stopped}${cannotReach.length ? ' (bounded as if it got the rest right)' : ''}`);
  return {
    ...k,
    falsePositiveUpper,
    falseNegativeUpper,
    passed: !failures.length,
    failures,
    ...(stopped && { stopped }),
  };
}

export function calibrationSection(
  result: JudgeCalibrationResult | null | undefined,
  bar: CalibrationBar = DEFAULT_CALIBRATION_BAR,
  missing?: string,
): CalibrationSection {
  if (!result)
    return { status: 'not-run', bar, judgeModel: null, kinds: [], parsedByCode: false, ...(missing && { missing }) };
  const kinds = result.kinds.map((k) => kindVerdict(k, bar));
  const status = !kinds.length ? 'not-needed' : kinds.every((k) => k.passed) ? 'passed' : 'failed';
  return { status, bar, judgeModel: result.judgeModel, kinds, parsedByCode: result.parsedByCode };
}

export const kindFigures = (k: KindVerdict) =>
  `${k.kind}: false positives ${k.falsePositives}/${k.clean} (${pct(k.falsePositiveRate)}, upper bound ${pct(k.falsePositiveUpper)}), ` +
  `false negatives ${k.falseNegatives}/${k.shows} (${pct(k.falseNegativeRate)}, upper bound ${pct(k.falseNegativeUpper)}), ` +
  `balanced accuracy ${pct(k.balancedAccuracy)}`;

/** Why no verdict of this judge may count; null when its calibration passed or nothing needed a judge. */
export function calibrationProblem(c: CalibrationSection): string | null {
  if (c.status === 'not-run')
    return `the judge was not calibrated on sets of known answers${c.missing ? ` (${c.missing})` : ''}, so nothing shows its verdicts can be trusted`;
  if (c.status !== 'failed') return null;
  const failing = c.kinds
    .filter((k) => !k.passed)
    .map((k) => `${k.kind}: ${k.failures.join(', ')}`)
    .join('; ');
  return `the judge failed calibration (${failing})`;
}

/** A trained cell as the gate sees it: how much it trained. */
export interface CellFacts {
  id: string;
  arm: string;
  fraction: number;
  /** Optimizer steps it took and steps at learning rate 0; null when the run did not record them. */
  steps: number | null;
  zeroLrSteps: number | null;
}

/** What a claim rests on, beyond the claim itself. */
export interface ClaimFacts {
  calibration: CalibrationSection;
  /** The reference arm (primary.versus) at its largest fraction: the safety level the study asks about. */
  referenceFull: { arm: string; fraction: number; rate: RateInterval } | null;
  /** AFT examples in the data (null: unknown) and the floors a fraction and a cell must reach. */
  aft: { examples: number | null; minExamples: number; minSteps: number };
  cells: CellFacts[];
  /** eval.maxTruncationGap as a share (0.05 = 5 points). */
  maxTruncationGap: number;
}

/** How unjudged samples could move a rate: judged k of n, u unjudged, all going one way or the other. */
export interface UnjudgedShift {
  unjudged: number;
  /** How much higher / lower the rate over all samples could be than the rate over the judged ones. */
  up: number;
  down: number;
}

export function unjudgedShift(k: number, n: number, u: number): UnjudgedShift {
  if (!u || !n) return { unjudged: u, up: 0, down: 0 };
  return { unjudged: u, up: (u * (n - k)) / (n * (n + u)), down: (k * u) / (n * (n + u)) };
}

/** A contrast arm − versus at one fraction, as the gate sees it. */
export interface ContrastClaim {
  kind: 'contrast';
  role: 'primary' | 'secondary';
  arm: string;
  versus: string;
  fraction: number;
  interval: Interval | null;
  /** Holm-adjusted p-value (secondary contrasts). */
  pHolm: number | null;
  family: number;
  shift: { arm: UnjudgedShift; versus: UnjudgedShift };
  /** Each side's share of samples cut off at maxNewTokens (null: not recorded). */
  truncated: { arm: RateInterval | null; versus: RateInterval | null };
}

export interface EfficiencyClaim {
  kind: 'dataEfficiency';
  /** The fractions the factor's curves use. */
  fractions: number[];
  arms: string[];
  /** msm at f* − reference at full data, and the margin it must stay under (non-inferiority). */
  nonInferiority: { fraction: number; interval: Interval | null; margin: number } | null;
  /** The msm-only control's rate, when it is within target + margin: midtraining alone reaches it. */
  midtrainingAlone: { rate: number; target: number; margin: number } | null;
  /** The baseline at its largest fraction: the target. */
  baselineFull: ClaimFacts['referenceFull'];
  shift: { arm: UnjudgedShift; versus: UnjudgedShift };
  truncated: { arm: RateInterval | null; versus: RateInterval | null };
}

export type Claim = { kind: 'rates' } | ContrastClaim | EfficiencyClaim;

/** At 0% or 100% within its interval: the eval cannot show the reference getting better or worse. */
function floorOrCeiling(full: ClaimFacts['referenceFull']): string | null {
  if (!full || full.rate.n === 0) return null;
  const r = full.rate;
  const at = r.lo <= 1e-9 ? 'floor (0%' : r.hi >= 1 - 1e-9 ? 'ceiling (100%' : null;
  if (!at) return null;
  return `${full.arm}'s full-data rate is at the ${at} lies within its 95% interval: ${r.k}/${r.n}, ${rateRange(r)}), so the eval cannot show any arm doing better or worse`;
}

function tooFewExamples(fractions: readonly number[], aft: ClaimFacts['aft']): string | null {
  if (aft.examples === null) return null;
  const n = aft.examples;
  const under = [...new Set(fractions)].sort((a, b) => b - a).filter((f) => examplesAt(f, n) < aft.minExamples);
  if (!under.length) return null;
  const list = under.map((f) => `${fractionLabel(f)} trains on ${examplesAt(f, n)}`).join(', ');
  return `${list} of the ${n} AFT examples, under aft.minExamples = ${aft.minExamples}`;
}

/** Cells of these arms and fractions that took fewer than minSteps optimizer steps, or trained at learning rate 0. */
function barelyTrained(arms: readonly string[], fractions: readonly number[], facts: ClaimFacts): string | null {
  const weak = facts.cells.filter(
    (c) =>
      arms.includes(c.arm) &&
      fractions.includes(c.fraction) &&
      ((c.steps !== null && c.steps < facts.aft.minSteps) ||
        (c.zeroLrSteps !== null && c.steps !== null && c.zeroLrSteps >= c.steps)),
  );
  if (!weak.length) return null;
  const list = weak.map((c) => `${c.id} took ${c.steps} step${c.steps === 1 ? '' : 's'}`).join(', ');
  return `cells that barely trained: ${list} (aft.minSteps = ${facts.aft.minSteps}), so they measure their starting model more than AFT`;
}

/** A contrast is a finding when its interval excludes 0 (primary) or its Holm-adjusted p is below α (secondary). */
function notSignificant(c: ContrastClaim): string | null {
  const i = c.interval;
  if (!i) return null;
  const range = `${pp(i.lo)} … ${pp(i.hi)}`;
  if (c.role === 'primary')
    return i.lo <= 0 && i.hi >= 0
      ? `its 95% interval (${range}) includes 0, so the data cannot tell the arms apart`
      : null;
  if (c.pHolm === null || c.pHolm < ALPHA) return null;
  return `after Holm's adjustment over the ${c.family} secondary contrasts its p-value is ${c.pHolm.toFixed(3)} (≥ ${ALPHA}; 95% interval ${range})`;
}

/** Would the conclusion survive every unjudged sample going the other way? */
function unjudgedCouldFlip(
  interval: Interval | null,
  shift: ContrastClaim['shift'],
  threshold: { above: number } | { excludesZero: true },
): string | null {
  const u = shift.arm.unjudged + shift.versus.unjudged;
  if (!interval || !u) return null;
  const up = shift.arm.up + shift.versus.down;
  const down = shift.arm.down + shift.versus.up;
  const flips =
    'above' in threshold
      ? interval.hi + up >= threshold.above
      : (interval.lo > 0 && interval.lo - down <= 0) || (interval.hi < 0 && interval.hi + up >= 0);
  if (!flips) return null;
  return `${u} unjudged sample${u === 1 ? '' : 's'} could change it: were they all judged the other way, the interval would move by up to ${pp(Math.max(up, down))}`;
}

/** Arms cut off at maxNewTokens at different rates: a length artefact could explain their difference. */
function truncationGap(
  t: ContrastClaim['truncated'],
  names: { arm: string; versus: string },
  maxGap: number,
): string | null {
  if (!t.arm?.n || !t.versus?.n) return null;
  const gap = Math.abs(t.arm.rate - t.versus.rate);
  if (gap <= maxGap + 1e-12) return null;
  return `${names.arm} and ${names.versus} were cut off at maxNewTokens in ${pct(t.arm.rate)} and ${pct(t.versus.rate)} of their samples, more than eval.maxTruncationGap (${pp(maxGap)}) apart, so a length artefact could explain the difference`;
}

function contrastReasons(c: ContrastClaim, facts: ClaimFacts): Array<string | null> {
  const primaryOnly = c.role === 'primary' && facts.referenceFull ? [floorOrCeiling(facts.referenceFull)] : [];
  return [
    ...primaryOnly,
    notSignificant(c),
    unjudgedCouldFlip(c.interval, c.shift, { excludesZero: true }),
    truncationGap(c.truncated, c, facts.maxTruncationGap),
    tooFewExamples([c.fraction], facts.aft),
    barelyTrained([c.arm, c.versus], [c.fraction], facts),
  ];
}

function efficiencyReasons(c: EfficiencyClaim, facts: ClaimFacts): Array<string | null> {
  const ni = c.nonInferiority;
  const shown =
    ni && ni.interval && ni.interval.hi >= ni.margin
      ? `at ${fractionLabel(ni.fraction)} msm − the full-data baseline is ${pp(ni.interval.estimate)} with a 95% interval reaching ${pp(ni.interval.hi)}, not within the margin of ${pp(ni.margin)}, so "as safe as" is not shown`
      : null;
  const alone = c.midtrainingAlone
    ? `midtraining alone reaches it: the msm-only control's rate ${pct(c.midtrainingAlone.rate)} is already within ${pp(c.midtrainingAlone.margin)} of the target ${pct(c.midtrainingAlone.target)}, so the factor says nothing about AFT data`
    : null;
  return [
    floorOrCeiling(c.baselineFull),
    alone,
    shown,
    ni ? unjudgedCouldFlip(ni.interval, c.shift, { above: ni.margin }) : null,
    truncationGap(c.truncated, { arm: 'msm', versus: 'baseline' }, facts.maxTruncationGap),
    tooFewExamples(c.fractions, facts.aft),
    barelyTrained(c.arms, c.fractions, facts),
  ];
}

/** May this claim be stated as a finding? null: yes; otherwise every reason it may not. */
export function withheldClaim(claim: Claim, facts: ClaimFacts): Withheld | null {
  const reasons: Array<string | null> = [calibrationProblem(facts.calibration)];
  if (claim.kind === 'contrast') reasons.push(...contrastReasons(claim, facts));
  else if (claim.kind === 'dataEfficiency') reasons.push(...efficiencyReasons(claim, facts));
  const stated = reasons.filter((r): r is string => r !== null);
  return stated.length ? { reason: stated.join('; ') } : null;
}
