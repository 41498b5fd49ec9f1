import type { ModelIdentity } from '../config/model-identity';
import type { CapabilityResult } from '../eval/capabilities/types';
import type { Arm } from '../config/arms';
import type { ProviderSettings } from '../config/experiment-schema';
import type { CorpusManifestRef } from '../corpus/types';
import type { ContaminationSummary } from '../eval/contamination';
import type { EvalSummary } from '../eval/types';
import type { JudgeCalibrationResult } from '../eval/judge-calibration';
import type { LoadedExperiment } from '../config/loaded-experiment';
import type { TokenizedRef } from '../tokenize/types';
import type { TrainResult } from '../training/types';
import type { AnalysisPlan } from './results-types';
import type { PlaceboMatch } from '../config/midtrain';

/** The report stage's request (every cell's results) and result, as they cross Temporal. */
export interface CellResult {
  /** The arm's name (src/config/arms.ts); its definition is in ReportRequest.arms. */
  arm: string;
  fraction: number;
  seed: number;
  /** midtrain.seeds (more than one): the midtraining the cell's arm started from; absent for base arms or one run. */
  midtrainSeed?: number;
  train: TrainResult;
  eval: EvalSummary;
}

export interface ReportRequest {
  storeUri: string;
  workflowId: string;
  /** identity: baseModel.identity, when the experiment set one (the corpus and AFT prompts named the model). */
  loaded: Omit<LoadedExperiment, 'experiment'> & { name: string; baseModel: string; identity?: ModelIdentity };
  corpus: CorpusManifestRef;
  tokens: TokenizedRef;
  midtrain: TrainResult | null;
  cells: CellResult[];
  /** The eval judge, calibrated before the report (absent in requests made before calibration existed). */
  judge?: ProviderSettings;
  /** eval.judgeAttempts, for the judge's calibration (absent in requests made before it existed: the default, 3). */
  judgeAttempts?: number;
  /** What decides whether a claim may be stated (absent: the defaults); from aft and eval.calibration. */
  claims?: {
    minBalancedAccuracy?: number;
    minExamples?: number;
    minSteps?: number;
    maxFalsePositiveRate?: number;
    maxFalseNegativeRate?: number;
    /** eval.maxTruncationGap, in percentage points. */
    maxTruncationGap?: number;
  };
  /** How the eval ran (eval.thinking, eval.conditions, the Inspect task); absent in requests made before. */
  evalSettings?: { thinking?: string; conditions?: Record<string, string[]>; inspectTask?: string };
  /** The experiment's declared analysis plan (absent in requests made before it existed: the defaults). */
  analysis?: AnalysisPlan;
  /** Set by the report workflow from the calibration activity; absent: the judge was not calibrated. */
  calibration?: JudgeCalibrationResult;
  /** The arms of the experiment (absent in requests made before arms were data: baseline and msm). */
  arms?: Arm[];
  /** Controls (aft: none): evaluated once, no training; `modelUri` null = the base model itself. */
  controls?: ControlResult[];
  /** eval.capabilities: each arm's checks (absent: none configured). */
  capabilities?: CapabilityResult[];
  /** Placebo arms: the unrelated spec, its corpus, its tokens matched to the MSM corpus's, and its midtraining. */
  placebo?: {
    spec: { hash: string; title: string };
    corpus: CorpusManifestRef;
    tokens: TokenizedRef;
    midtrain: TrainResult;
    match: PlaceboMatch;
  };
  /** The overlap check of the training data against the eval data (absent in runs started before it). */
  contamination?: ContaminationSummary;
  /** midtrain.seeds: the midtrainings beyond seed 0 (whose are `corpus`, `midtrain`, `placebo`), each on its corpus draw. */
  midtrains?: MidtrainSeedRun[];
}

/** One further midtraining seed: the corpus draw it trained on (0 when draws are shared) and its runs. */
export interface MidtrainSeedRun {
  seed: number;
  corpusDraw: number;
  corpus: CorpusManifestRef;
  tokens: TokenizedRef;
  /** Null when no arm starts from msm (only placebo arms). */
  midtrain: TrainResult | null;
  placebo?: Omit<NonNullable<ReportRequest['placebo']>, 'spec'> & { spec: { hash: string; title: string } };
}

export interface ControlResult {
  arm: string;
  seed: number;
  /** midtrain.seeds (more than one): the midtraining a control of a midtrained arm evaluates. */
  midtrainSeed?: number;
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
