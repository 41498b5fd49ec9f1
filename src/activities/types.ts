import type { ComputeUsage } from '../cost/compute-usage';
import type { Experiment } from '../config/experiment-schema';
import type { TrainerJobKind } from '../trainer/job';
import type { Usage } from '../cost/usage';

/**
 * What crosses Temporal between workflows and activities: configuration, keys, URIs, hashes and
 * counts. Never document text or token data (claim check via the artifact store).
 */
export interface LoadedExperiment {
  experiment: Experiment;
  storeUri: string;
  spec: { key: string; hash: string; title: string; variant: string; sections: number; rules: number };
  aftData: { key: string; sha256: string; examples: number };
  evalSet: { key: string; sha256: string; prompts: number };
}

export interface CorpusRef {
  storeUri: string;
  /** Content-derived folder of this corpus: the same spec + settings + prompts reuse it. */
  prefix: string;
}

export interface CorpusStageCounts {
  units: number;
}

export interface UnitRange {
  from: number;
  to: number;
}

export interface DocumentBatchResult {
  generated: number;
  reused: number;
  truncated: number;
  llmCalls: number;
  /** What this activity paid for (reused items cost nothing). */
  usage: Usage;
}

/** What the document stage will cost, shown before it starts (and awaited when approval is required). */
export interface CorpusPreview {
  units: number;
  documents: number;
  /** Documents already written (the pilot, or an earlier run): they are not paid again. */
  documentsDone: number;
  projectedInputTokens: number;
  projectedOutputTokens: number;
  projectedCostUsd: number;
  /** 'pilot': per-document figures measured on the documents already written; 'cap': maxDocTokens as the bound. */
  basis: 'pilot' | 'cap';
  /** A few written documents to read before approving. */
  sampleUris: string[];
}

export interface CorpusManifestRef {
  manifestKey: string;
  hash: string;
  documents: number;
  /** Near-duplicates (MinHash Jaccard >= the threshold) of an earlier document, dropped. */
  duplicatesRemoved: number;
  /** Truncated documents dropped (generation.truncated = "drop"). */
  truncatedDropped: number;
  /** Truncated documents kept and flagged (generation.truncated = "keep"). */
  truncated: number;
  shardKeys: string[];
  /** Every document's generation cost, reused ones included: what this corpus cost to make. */
  documentUsage: Usage;
}

export interface TokenizedRef {
  manifestUri: string;
  sha256: string;
  numSequences: number;
  numTokens: number;
  tokenizerUri: string;
  vocabSize: number;
}

export interface TrainRequest {
  kind: Exclude<TrainerJobKind, 'generate'>;
  storeUri: string;
  /** Label for ids and logs, e.g. "midtrain" or "aft-msm-1of4-s0". */
  label: string;
  data: TokenizedRef;
  fraction?: number;
  seed: number;
  initFrom?: { outputUri: string };
  experiment: Pick<Experiment, 'baseModel' | 'compute'>;
  hyper: Experiment['midtrain'];
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

export interface EvalRequest {
  storeUri: string;
  label: string;
  modelUri: string | null;
  tokenizerUri: string;
  evalSet: LoadedExperiment['evalSet'];
  experiment: Pick<Experiment, 'baseModel' | 'compute' | 'eval'>;
  seed: number;
}

export interface SamplesRef {
  evalKey: string;
  samplesKey: string;
  samplesUri: string;
  samples: number;
}

export interface EvalSummary {
  k: number;
  n: number;
  unjudged: number;
  samplesUri: string;
  judgmentsPrefix: string;
  judgeModel: string;
}

export interface CellResult {
  arm: 'baseline' | 'msm';
  fraction: number;
  seed: number;
  train: TrainResult;
  eval: EvalSummary;
}

export interface ReportRequest {
  storeUri: string;
  workflowId: string;
  loaded: Omit<LoadedExperiment, 'experiment'> & { name: string; baseModel: string };
  corpus: CorpusManifestRef;
  tokens: TokenizedRef;
  midtrain: TrainResult | null;
  cells: CellResult[];
}

export interface ReportResult {
  resultsUri: string;
  htmlUri: string;
  htmlPath: string | null;
  /** report.md: the same results as a Markdown summary (absent in reports written before it existed). */
  markdownUri?: string;
}

export type { TrainerJobKind };
