import type { DataEfficiencyWithInterval } from '../eval/data-efficiency';
import { calibrationProblem, kindFigures, type CalibrationSection, type Withheld } from './claims';
import { boundText, diffRange, factorText, oneIn, pct, pp } from './format';
import type { Contrast, EfficiencyAmounts } from './results-types';

/** The study's answer in plain sentences (HTML, Markdown and results.json say the same thing). */

const amountsText = (a: EfficiencyAmounts | null) => {
  if (!a) return '';
  const parts = [
    a.examples &&
      `${Math.round(a.examples.atFraction)} instead of ${Math.round(a.examples.full)} AFT examples (${factorText(a.examples.ratio)})`,
    a.tokens &&
      `${Math.round(a.tokens.atFraction)} instead of ${Math.round(a.tokens.full)} AFT tokens (${factorText(a.tokens.ratio)})`,
  ].filter(Boolean);
  return parts.length ? ` In data: ${parts.join('; ')}.` : '';
};

export function describeDataEfficiency(
  { estimate: d, interval }: DataEfficiencyWithInterval,
  amounts: EfficiencyAmounts | null = null,
): string {
  const ci = interval ? ` (95% bootstrap interval: ${boundText(interval.lo)} to ${boundText(interval.hi)})` : '';
  switch (d.status) {
    case 'unavailable':
      return `No data-efficiency factor: ${d.reason}.`;
    case 'not-reached':
      return (
        `The MSM arm does not come within ${pp(d.margin)} of the baseline's full-data rate (${pct(d.target)} at ${oneIn(d.fullFraction)}) ` +
        `at its largest fraction (${pct(d.largestMsmRate)}), so there is no data-efficiency factor${ci}.`
      );
    case 'lower-bound':
      return (
        `The MSM arm stays within ${pp(d.margin)} of the baseline's full-data rate (${pct(d.target)}) from the smallest AFT fraction run, ` +
        `${oneIn(d.fraction)}, upward: it needs at least ${factorText(d.factor)} less AFT data. Smaller fractions were not run, so the grid bounds this${ci}.` +
        amountsText(amounts)
      );
    case 'reached':
      return (
        `The MSM arm stays within ${pp(d.margin)} of the baseline's full-data rate (${pct(d.target)}) from ${oneIn(d.fraction)} of the AFT data upward: ` +
        `${factorText(d.factor)} less AFT data${ci}.` +
        amountsText(amounts)
      );
  }
}

/** A contrast with its interval, p-value and, for a secondary one, its Holm-adjusted p. */
export function describeContrast(c: Contrast): string {
  const what = `${c.arm} − ${c.versus} at ${c.fractionLabel} of the AFT data`;
  if (!c.pooled) return `For ${what} an arm has no judged samples, so there is no difference.`;
  const holm = c.pHolm === null ? '' : `, Holm-adjusted p = ${c.pHolm.toFixed(3)}`;
  const corrected = c.corrected
    ? `; corrected for the judge's measured error: ${pp(c.corrected.estimate)} (${diffRange(c.corrected)})`
    : '';
  return `${c.role === 'primary' ? 'Primary outcome: ' : ''}${what} is ${pp(c.pooled.estimate)} (95% bootstrap interval ${diffRange(c.pooled)}, p = ${c.pooled.p.toFixed(3)}${holm}${corrected}).`;
}

/** A claim as a finding, or the reason it is withheld followed by what was computed, marked as not a finding. */
export function statedOrWithheld(claim: string, sentence: string, withheld: Withheld | null | undefined): string {
  if (!withheld) return sentence;
  return `${claim} withheld: ${withheld.reason}. Computed anyway, not a finding: ${sentence}`;
}

const barText = (c: CalibrationSection) =>
  `the bar: 95% upper bounds of the false-positive rate ≤ ${pct(c.bar.maxFalsePositiveRate)} and of the false-negative rate ≤ ${pct(c.bar.maxFalseNegativeRate)}` +
  (c.bar.minBalancedAccuracy !== null ? `, balanced accuracy ≥ ${pct(c.bar.minBalancedAccuracy)}` : '');

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
            .map((k) => `${k.kind}: ${k.failures.join(', ')}`)
            .join('; ')} (${barText(c)}).`
        : `The judge was not calibrated on sets of known answers${c.missing ? ` (${c.missing})` : ''}, so nothing shows its verdicts can be trusted.`;
    return `${what} No rate, difference or data-efficiency claim in this report is a finding; the numbers are listed, marked, and are not findings.${parsed}`;
  }
  if (c.status === 'not-needed')
    return 'Every answer is a forced choice parsed by code: no judge decides a verdict, so there is nothing to calibrate.';
  return `The judge${judge} passed calibration on every kind of judging it is used for (${barText(c)}): ${c.kinds.map(kindFigures).join('; ')}.${parsed}`;
}
