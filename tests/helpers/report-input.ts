import type { ReportInput } from '../../src/report/results';
import { calibrationResult } from './calibration';

/**
 * A small report input: baseline and msm at 1/1, one seed, 1 of 10 judged each, a passing calibration. What a
 * test of the lineage, the header or a comparison needs; `experiment` fields and the cells can be replaced.
 */
export function smallReportInput(
  experiment: Partial<ReportInput['experiment']> = {},
  cells?: ReportInput['cells'],
): ReportInput {
  return {
    experiment: {
      name: 'exp',
      workflowId: 'wf',
      specTitle: 'Spec',
      specHash: 'abc',
      specVariant: 'full',
      baseModel: 'tiny',
      corpus: {
        documents: 1,
        tokens: 10,
        hash: 'h',
        truncated: 0,
        truncatedDropped: 0,
        duplicatesRemoved: 0,
        documentCostUsd: 0,
      },
      midtrain: { finalLoss: 2, steps: 5, checkpoint: 'file:///m' },
      evalSet: { sha256: 'e5', prompts: 2 },
      ...experiment,
    },
    cells:
      cells ??
      (['baseline', 'msm'] as const).map((arm) => ({
        arm,
        fraction: 1,
        seed: 0,
        trainFinalLoss: 1,
        modelUri: `file:///runs/${arm}`,
        eval: { k: 1, n: 10, samplesUri: `file:///evals/${arm}.jsonl`, judgeModel: 'judge' },
      })),
    generatedAt: '2026-12-06T00:00:00Z',
    bootstrap: { resamples: 100, seed: 1, level: 0.95 },
    calibration: calibrationResult(),
  };
}
