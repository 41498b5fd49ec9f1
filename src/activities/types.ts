import type { AftSubsetPlan } from '../config/aft-subsets';
import type { Reproducibility } from '../llm/seed';
import type { ComputeUsage } from '../cost/compute-usage';
import type { Arm } from '../config/arms';
import type { Experiment, ProviderSettings } from '../config/experiment-schema';
import type { JudgeCalibrationResult } from '../eval/judge-calibration';
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
  /** The AFT data file; null when aft.generate makes it (the aftDataGeneration child). */
  aftData: { key: string; sha256: string; examples: number } | null;
  /** aft.mix.data, stored (only when aft.mix is set). */
  mixData?: { key: string; sha256: string; examples: number };
  /** aft.reasoningData, stored (only when set): the with-reasoning file of arms with aft: with-reasoning. */
  reasoningData?: { key: string; sha256: string; examples: number };
  evalSet: { key: string; sha256: string; prompts: number };
  /** AFT examples per fraction and whether each seed drew its own subsets; absent in runs loaded before it existed. */
  aftSubsets?: AftSubsetPlan;
}

export interface CorpusRef {
  storeUri: string;
  /** Content-derived folder of this corpus: the same spec + settings + prompts reuse it. */
  prefix: string;
  /** Which part of the stored plan this run uses; absent in refs made before top-up (then: everything stored). */
  selection?: CorpusSelection;
}

/**
 * The first `units` units, their first `typesPerUnit` types and those types' first `ideasPerType` ideas:
 * a corpus folder may hold more (from a run with larger counts), and assembly takes only this part.
 */
export interface CorpusSelection {
  units: number;
  typesPerUnit: number;
  ideasPerType: number;
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
  /** Batch mode: batches this activity submitted, and items it sent again in a follow-up batch. */
  batches?: number;
  batchItemRetries?: number;
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
  /**
   * Whether generating again from an empty store gives this corpus: "yes" (local model, seeded from each
   * item's key), "best-effort" (OpenAI-compatible server sent the seed), "no" (Anthropic takes no seed, or
   * a document written before seeds). Absent in manifests written before it was recorded.
   */
  reproducible?: Reproducibility;
}

export interface TokenizedRef {
  manifestUri: string;
  sha256: string;
  numSequences: number;
  numTokens: number;
  tokenizerUri: string;
  vocabSize: number;
  /** Packed corpora: exact token counts per document (JSONL id, tokens), their summary and histogram SVG. */
  documentStats?: {
    documentTokensUri: string;
    summaryUri: string;
    histogramUri: string;
    summary: { documents: number; totalTokens: number; min: number; median: number; p95: number; max: number; mean: number };
  };
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
  /** aft from a LoRA midtraining: merge its adapter and train a new one (aft.continueAdapter false). */
  freshAdapter?: boolean;
  /** aft: the instruction-tuning rows mixed in, `ratio` per AFT row (aft.mix). */
  mix?: { data: TokenizedRef; ratio: number };
  /** aft: this seed draws its own nested subsets (aft.subsetBySeed); absent = the subset every seed shares. */
  subsetBySeed?: boolean;
  /** logging: the trainer's W&B block (absent in requests from before it existed). */
  experiment: Pick<Experiment, 'baseModel' | 'compute' | 'logging'>;
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
  /** A system prompt given with every eval prompt (an arm's systemPrompt: the stored spec); absent: none. */
  systemPrompt?: { key: string; sha256: string };
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
  /** The arm's name (src/config/arms.ts); its definition is in ReportRequest.arms. */
  arm: string;
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
  /** The eval judge, calibrated before the report (absent in requests made before calibration existed). */
  judge?: ProviderSettings;
  /** What decides whether a claim may be stated (absent: the defaults). */
  claims?: { minBalancedAccuracy?: number; minExamples?: number };
  /** Set by the report workflow from the calibration activity; absent: the judge was not calibrated. */
  calibration?: JudgeCalibrationResult;
  /** The arms of the experiment (absent in requests made before arms were data: baseline and msm). */
  arms?: Arm[];
  /** Controls (aft: none): evaluated once, no training; `modelUri` null = the base model itself. */
  controls?: ControlResult[];
}

export interface ControlResult {
  arm: string;
  seed: number;
  modelUri: string | null;
  eval: EvalSummary;
}

export interface ReportResult {
  resultsUri: string;
  htmlUri: string;
  htmlPath: string | null;
  /** report.md: the same results as a Markdown summary (absent in reports written before it existed). */
  markdownUri?: string;
  /** The report's answer in a few sentences: calibration, then each claim stated or withheld (absent before calibration existed). */
  headline?: string[];
}

export type { TrainerJobKind };
