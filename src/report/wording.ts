import type { DataEfficiencyWithInterval } from '../eval/data-efficiency';
import { boundText, factorText, oneIn, pct } from './format';

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
