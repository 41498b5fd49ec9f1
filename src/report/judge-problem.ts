import { calibrationProblem } from './claims';
import type { Results } from './results';

/**
 * Why no verdict of this experiment's judge may count, or null. Results from before judge calibration
 * (msm-results-v2) carry no calibration: nothing shows their judge can be trusted either.
 */
export function judgeProblem(r: Results): string | null {
  if (!r.calibration) return 'its judge was not calibrated (results from before judge calibration; re-run its report)';
  if (r.format !== 'msm-results-v4')
    return `its claims were gated by older rules (${String(r.format)}: balanced accuracy only, no error-rate bounds); re-run its report`;
  return calibrationProblem(r.calibration);
}
