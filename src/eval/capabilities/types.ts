import type { CapabilityCheck, Experiment } from '../../config/experiment-schema';
import type { ComputeUsage } from '../../cost/compute-usage';
import type { LoadedExperiment } from '../../config/loaded-experiment';

/** One arm's capability checks (eval.capabilities): run on the model its cell ends with. Crosses Temporal. */
export interface CapabilityRequest {
  storeUri: string;
  /** e.g. capabilities-msm: names the store folder and the job. */
  label: string;
  arm: string;
  /** The cell whose model is checked: the arm's largest fraction at its first seed; a control: fraction 0. */
  cell: { id: string; fraction: number; seed: number };
  /** null: the base model itself (a control that starts from base). */
  modelUri: string | null;
  /** An external arm's model (then modelUri is null): a local folder, s3:// or hf: id the trainer loads. */
  externalModel?: string;
  tokenizerUri: string;
  checks: CapabilityCheck[];
  /** The stored question files of the checks that have one, by check name. */
  questions: NonNullable<LoadedExperiment['capabilityQuestions']>;
  experiment: Pick<Experiment, 'baseModel' | 'compute' | 'eval'>;
}

/** One check's score on one arm's model: the mean of the task scorer's per-sample scores (0–1). */
export interface CapabilityScore {
  name: string;
  kind: CapabilityCheck['kind'];
  /** The Inspect task: msm/multiple_choice for a questions file. */
  task: string;
  /** Samples the scorer scored. */
  n: number;
  /** Sum and sum of squares of the scores: the mean and its interval. */
  sum: number;
  sumSquares: number;
  /** Every score was 0 or 1 (accuracy): the interval is Wilson's. */
  binary: boolean;
  /** Samples with no score (the scorer found nothing to score). */
  unscored: number;
  /** Samples cut off at maxTokens. */
  truncated: number;
  /** The check's Inspect log (`inspect view`). */
  logUri: string;
}

export interface CapabilityResult {
  arm: string;
  cell: CapabilityRequest['cell'];
  modelUri: string | null;
  checks: CapabilityScore[];
  /** The job's machine time and cost, for compute.budgetUsd and the cost meter. */
  compute?: ComputeUsage;
}
