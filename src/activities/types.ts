/**
 * What crosses Temporal between workflows and activities: configuration, keys, URIs, hashes and counts,
 * never document text or token data (claim check via the artifact store). Each stage keeps its own in its
 * folder; this file gathers them for callers that want one import.
 */
export type { LoadedExperiment } from '../config/loaded-experiment';
export type {
  CorpusManifestRef,
  CorpusPreview,
  CorpusRef,
  CorpusSelection,
  DocumentBatchResult,
  UnitRange,
} from '../corpus/types';
export type { TokenizedRef } from '../tokenize/types';
export type { TrainRequest, TrainResult } from '../training/types';
export type { TrainerJobKind } from '../training/job';
export type { EvalRequest, EvalSummary, SamplesRef } from '../eval/types';
export type { CellResult, ControlResult, ReportRequest, ReportResult } from '../report/types';
