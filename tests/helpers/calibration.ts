import { calibrationStats, type CalibrationKind, type JudgeCalibrationResult } from '../../src/eval/judge-calibration';

/**
 * A calibration result as the activity returns it, for report tests that build results directly: a judge
 * that gets `right.shows` of `size` showing items and `right.clean` of `size` clean items right on each kind.
 * The default (199 and 200 of 200) passes the default bar: 95% upper bounds 2.4% (false negatives) and 1.5%
 * (false positives) under 10% and 5%.
 */
export function calibrationResult(
  kinds: CalibrationKind[] = ['criterion'],
  right = { shows: 199, clean: 200 },
  size = 200,
): JudgeCalibrationResult {
  const outcomes = [
    ...Array.from({ length: size }, (_, i) => ({ shows: true, counted: i < right.shows })),
    ...Array.from({ length: size }, (_, i) => ({ shows: false, counted: i >= right.clean })),
  ];
  return {
    judgeModel: 'judge',
    kinds: kinds.map((kind) => ({
      kind,
      setSha256: `${kind}-set`,
      judgmentsUri: `file:///calibration/${kind}/items`,
      ...calibrationStats(outcomes),
    })),
    parsedByCode: false,
  };
}
