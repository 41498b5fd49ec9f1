import type { PlaceboMatch } from '../config/midtrain';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ComputeUsage } from '../cost/compute-usage';
import type { Usage } from '../cost/usage';
import type { CorpusPreview } from '../corpus/types';
import type { CorpusTargetStatus } from '../corpus/target';
import type { SweepComparison } from '../sweep/compare-sweep';

export type Stage =
  | 'loading'
  | 'corpus'
  | 'aft-data'
  | 'tokenize'
  | 'midtrain'
  | 'aft-sweep'
  | 'capabilities'
  | 'report'
  | 'done'
  | 'failed';

export interface CellProgress {
  id: string;
  arm: string;
  /** 0 for a control (no AFT data). */
  fraction: number;
  seed: number;
  /** midtrain.seeds (more than one): the midtraining this cell's arm starts from; absent for one run, or base arms. */
  midtrainSeed?: number;
  status: 'pending' | 'training' | 'evaluating' | 'done';
  rate?: number;
  /** The AFT run's machines, GPU-hours, cost, preemptions and GPU time lost, once it finished. */
  compute?: ComputeUsage;
}

export interface ExperimentProgress {
  stage: Stage;
  paused: boolean;
  spec?: { title: string; hash: string };
  corpus?: {
    documents: number;
    truncated: number;
    truncatedDropped: number;
    duplicatesRemoved: number;
    hash: string;
    /** generation.targetTokens set: reached, or short by how much. */
    target?: CorpusTargetStatus;
  };
  /** Generated AFT data (aft.generate), once written. */
  aftData?: {
    examples: number;
    requested: number;
    excludedByFilter: number;
    duplicates: number;
    backfillRounds: number;
    sha256: string;
  };
  tokens?: { sequences: number; tokens: number };
  midtrain?: { outputUri: string; finalLoss?: number; resumedFromStep: number | null; compute?: ComputeUsage };
  /** Placebo arms: the unrelated spec's corpus, its tokens matched to the MSM corpus's, and its midtraining. */
  placebo?: {
    documents?: number;
    match?: PlaceboMatch;
    midtrain?: { outputUri: string; finalLoss?: number; resumedFromStep: number | null; compute?: ComputeUsage };
  };
  /** midtrain.seeds: the further midtraining runs (seed 0 is `midtrain` above), each once it finished. */
  midtrains?: Array<{ seed: number; corpusDraw: number; outputUri: string; finalLoss?: number; placebo?: boolean }>;
  /** Training runs finished so far, summed: GPU-hours, cost, preemptions, GPU time lost. */
  compute?: ComputeUsage;
  /** compute.budgetUsd as now in force (setComputeBudget raises it); null or absent: none. */
  computeBudgetUsd?: number | null;
  /** True while new GPU work waits because the compute budget is spent. */
  computeOverBudget?: boolean;
  /** The judge's spend over the cells evaluated so far (eval.judge.price), against eval.budgetUsd. */
  judge?: { calls: number; costUsd: number; budgetUsd: number | null };
  cells: CellProgress[];
  sweepConcurrency: number;
  report?: { htmlUri: string; resultsUri: string; htmlPath: string | null };
}

export interface CorpusProgress {
  /** The document stage's projected count, tokens and cost, once the ideas exist. */
  preview?: CorpusPreview;
  /** True while the document stage waits for the approve update (generation.requireApproval). */
  awaitingApproval: boolean;
  /** Paid LLM usage of this run (items reused from the store cost nothing). */
  usage: Usage;
  budgetUsd: number | null;
  /** True while generation waits for the setBudget update because the budget is spent. */
  overBudget: boolean;
  units: number;
  unitsWithIdeas: number;
  unitsWithDocs: number;
  documentsGenerated: number;
  documentsReused: number;
  truncated: number;
  llmCalls: number;
  paused: boolean;
  /** generation.targetTokens set: the estimated tokens assembled, top-up rounds, reached or short by how much. */
  target?: CorpusTargetStatus;
}

export interface AftDataProgress {
  requested: number;
  /** The round in progress: 0 first, then backfill rounds. */
  round: number;
  domains: number;
  questionsGenerated: number;
  duplicates: number;
  answered: number;
  included: number;
  excludedByFilter: number;
  malformed: number;
  /** Paid LLM usage of this run (items reused from the store cost nothing). */
  usage: Usage;
  llmCalls: number;
  paused: boolean;
  done: boolean;
}

export interface SweepProgress {
  paused: boolean;
  concurrency: number;
  points: Array<{
    id: string;
    values: Record<string, unknown>;
    workflowId: string;
    status: 'pending' | 'running' | 'done' | 'failed';
    error?: string;
  }>;
  /** The comparison of the finished points, once written. */
  comparison?: SweepComparison | null;
}

export const progressQuery = defineQuery<ExperimentProgress>('progress');
export const sweepProgressQuery = defineQuery<SweepProgress>('progress');
export const aftDataProgressQuery = defineQuery<AftDataProgress>('progress');
export const corpusProgressQuery = defineQuery<CorpusProgress>('progress');
/** Pause holds new work at the next stage/batch boundary; running activities finish. */
export const pauseSignal = defineSignal('pause');
/** An evaluation child tells its experiment that its samples are written: its cell's GPU place is free (the label). */
export const sampledSignal = defineSignal<[string]>('sampled');
export const resumeSignal = defineSignal('resume');
/** Change how many AFT cells (or generation batches) run at once; returns the value now in force. */
export const setConcurrencyUpdate = defineUpdate<number, [number]>('setConcurrency');
/** Approve the previewed document stage; returns the preview that was approved. */
export const approveUpdate = defineUpdate<CorpusPreview, []>('approve');
/** Raise (or set) the generation budget in USD; generation paused on the budget resumes. */
export const setBudgetUpdate = defineUpdate<number, [number]>('setBudget');
/** Raise (or set) the experiment's compute budget in USD (compute.budgetUsd); GPU work paused on it resumes. */
export const setComputeBudgetUpdate = defineUpdate<number, [number]>('setComputeBudget');
