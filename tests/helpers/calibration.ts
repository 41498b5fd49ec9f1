import { calibrationStats, type CalibrationKind, type JudgeCalibrationResult } from '../../src/eval/judge-calibration';

/**
 * A calibration result as the activity returns it, for report tests that build results directly: a judge
 * that gets `right` of 20 showing and of 20 clean items right on each kind.
 */
export function calibrationResult(
  kinds: CalibrationKind[] = ['criterion'],
  right = { shows: 19, clean: 20 },
): JudgeCalibrationResult {
  const outcomes = [
    ...Array.from({ length: 20 }, (_, i) => ({ shows: true, counted: i < right.shows })),
    ...Array.from({ length: 20 }, (_, i) => ({ shows: false, counted: i >= right.clean })),
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
