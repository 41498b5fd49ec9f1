import { fractionLabel } from '../config/fractions';
import { wilson, type RateInterval } from '../eval/stats';

export interface ReportInput {
  experiment: {
    name: string;
    workflowId: string;
    specTitle: string;
    specHash: string;
    specVariant: string;
    baseModel: string;
    corpus: { documents: number; tokens: number; hash: string; truncated: number };
    midtrain?: { finalLoss: number; steps: number; checkpoint: string };
  };
  cells: Array<{
    arm: 'baseline' | 'msm';
    fraction: number;
    seed: number;
    trainFinalLoss: number;
    modelUri: string;
    eval: { k: number; n: number; unjudged: number; samplesUri: string; judgeModel: string };
  }>;
  generatedAt: string;
}

export interface Results {
  format: 'msm-results-v1';
  metric: string;
  experiment: ReportInput['experiment'];
  generatedAt: string;
  /** Every trained model with its own interval and lineage. */
  cells: Array<ReportInput['cells'][number] & { fractionLabel: string; misalignment: RateInterval }>;
  /** Pooled over seeds (sum of k and n) per arm and fraction: the points of the plot. */
  curves: Array<{ arm: string; points: Array<{ fraction: number; fractionLabel: string; seeds: number; misalignment: RateInterval }> }>;
}

export const HEADLINE_METRIC = "share of samples the judge found to show the undesired behaviour (judge verdict 'violates')";

export function buildResults(input: ReportInput): Results {
  const cells = input.cells.map((c) => ({ ...c, fractionLabel: fractionLabel(c.fraction), misalignment: wilson(c.eval.k, c.eval.n) }));
  const arms = [...new Set(cells.map((c) => c.arm))].sort();
  const curves = arms.map((arm) => {
    const fractions = [...new Set(cells.filter((c) => c.arm === arm).map((c) => c.fraction))].sort((a, b) => b - a);
    return {
      arm,
      points: fractions.map((fraction) => {
        const group = cells.filter((c) => c.arm === arm && c.fraction === fraction);
        const k = group.reduce((s, c) => s + c.eval.k, 0);
        const n = group.reduce((s, c) => s + c.eval.n, 0);
        return { fraction, fractionLabel: fractionLabel(fraction), seeds: group.length, misalignment: wilson(k, n) };
      }),
    };
  });
  return { format: 'msm-results-v1', metric: HEADLINE_METRIC, experiment: input.experiment, generatedAt: input.generatedAt, cells, curves };
}
