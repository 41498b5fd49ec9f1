import type { DataEfficiencyWithInterval } from '../eval/data-efficiency';
import type { Interval } from '../eval/bootstrap';
import { calibrationProblem, kindFigures, type CalibrationSection, type Withheld } from './claims';
import { boundText, diffRange, factorText, oneIn, pct, pp } from './format';

/** The study's answer in one plain sentence (HTML, Markdown and results.json say the same thing). */
export function describeDataEfficiency({ estimate: d, interval }: DataEfficiencyWithInterval): string {
  const ci = interval ? ` (95% bootstrap interval: ${boundText(interval.lo)} to ${boundText(interval.hi)})` : '';
  switch (d.status) {
    case 'unavailable':
      return `No data-efficiency factor: ${d.reason}.`;
    case 'not-reached':
      return (
        `The MSM arm does not reach the baseline's full-data misalignment rate (${pct(d.target)} at ${oneIn(d.fullFraction)}) at any measured ` +
        `AFT fraction (${pct(d.largestMsmRate)} at its largest), so there is no data-efficiency factor${ci}.`
      );
    case 'lower-bound':
      return (
        `The MSM arm is already at or below the baseline's full-data misalignment rate (${pct(d.target)}) at the smallest AFT fraction run, ` +
        `${oneIn(d.fraction)}: it needs at least ${factorText(d.factor)} less AFT data. Smaller fractions were not run, so this is a lower bound${ci}.`
      );
    case 'reached':
      return (
        `The MSM arm reaches the baseline's full-data misalignment rate (${pct(d.target)}) at about ${oneIn(d.fraction)} of the AFT data ` +
        `(interpolated in log fraction): ${factorText(d.factor)} less AFT data${ci}.`
      );
  }
}

/** msm − baseline at one fraction, with its bootstrap interval. */
export function describeDifference(d: { fractionLabel: string; pooled: Interval | null }): string {
  if (!d.pooled)
    return `At ${d.fractionLabel} of the AFT data an arm has no judged samples, so there is no msm − baseline difference.`;
  return `At ${d.fractionLabel} of the AFT data, msm − baseline is ${pp(d.pooled.estimate)} (95% bootstrap interval ${diffRange(d.pooled)}).`;
}

/** A claim as a finding, or the reason it is withheld followed by what was computed, marked as not a finding. */
export function statedOrWithheld(claim: string, sentence: string, withheld: Withheld | null): string {
  if (!withheld) return sentence;
  return `${claim} withheld: ${withheld.reason}. Computed anyway, not a finding: ${sentence}`;
}

/** The report's first sentence: whether the judge's verdicts may count at all. */
export function describeCalibration(c: CalibrationSection): string {
  const judge = c.judgeModel ? ` (${c.judgeModel})` : '';
  const parsed = c.parsedByCode ? ' Forced-choice answers are parsed by code and need no calibration.' : '';
  const problem = calibrationProblem(c);
  if (problem) {
    const what =
      c.status === 'failed'
        ? `The judge${judge} failed calibration: ${c.kinds
            .filter((k) => !k.passed)
            .map(kindFigures)
            .join('; ')}; the bar is balanced accuracy ≥ ${pct(c.minBalancedAccuracy)}.`
        : 'The judge was not calibrated on sets of known answers, so nothing shows its verdicts can be trusted.';
    return `${what} No rate, difference or data-efficiency claim in this report is a finding; the numbers are listed, marked, and are not findings.${parsed}`;
  }
  if (c.status === 'not-needed')
    return 'Every answer is a forced choice parsed by code: no judge decides a verdict, so there is nothing to calibrate.';
  return `The judge${judge} passed calibration on every kind of judging it is used for (bar: balanced accuracy ≥ ${pct(c.minBalancedAccuracy)}): ${c.kinds.map(kindFigures).join('; ')}.${parsed}`;
}
