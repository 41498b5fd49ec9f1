import type { ComputeUsage } from '../cost/compute-usage';
import type { Experiment } from '../config/experiment-schema';
import type { TrainHyper } from '../config/midtrain';
import type { TokenizedRef } from '../tokenize/types';
import type { TrainerJobKind } from './job';

/** A training run as it crosses Temporal: the request and its result. */
export interface TrainRequest {
  kind: Exclude<TrainerJobKind, 'generate'>;
  storeUri: string;
  /** Label for ids and logs, e.g. "midtrain" or "aft-msm-1of4-s0". */
  label: string;
  data: TokenizedRef;
  fraction?: number;
  seed: number;
  initFrom?: { outputUri: string };
  /** aft from a LoRA midtraining: merge its adapter and train a new one (aft.continueAdapter false). */
  freshAdapter?: boolean;
  /** aft: the instruction-tuning rows mixed in, `ratio` per AFT row (aft.mix). */
  mix?: { data: TokenizedRef; ratio: number };
  /** aft: this seed draws its own nested subsets (aft.subsetBySeed); absent = the subset every seed shares. */
  subsetBySeed?: boolean;
  /** logging: the trainer's W&B block (absent when the experiment has none). */
  experiment: Pick<Experiment, 'baseModel' | 'compute' | 'logging'>;
  hyper: TrainHyper;
}

export interface TrainResult {
  outputUri: string;
  runKey: string;
  metrics: Record<string, number>;
  resumedFromStep: number | null;
  /** Resumes the trainer recorded (each one a restart from a checkpoint). */
  preemptions: number;
  /** Machines, GPU-hours, cost, preemptions and GPU time lost (src/compute/ledger.ts); absent in older results. */
  compute?: ComputeUsage;
}
