import type { CorpusTargetStatus } from '../corpus/target';
import type { PlaceboMatch } from '../config/midtrain';
import type { ContaminationSummary } from '../eval/contamination';
import type { CapabilityResult } from '../eval/capabilities/types';
import type { CapabilitySection } from './capabilities';
import type { AftSubsetPlan } from '../config/aft-subsets';
import type { Arm as ArmDefinition } from '../config/arms';
import type { ModelIdentity } from '../config/model-identity';
import { fractionSlug } from '../config/fractions';
import { midtrainSuffix } from '../config/midtrain';
import type { ComputeUsage } from '../cost/compute-usage';
import type { BootstrapSettings, Interval } from '../eval/bootstrap';
import type { ConditionCount, PromptCount } from '../eval/counts';
import type { DataEfficiencyWithInterval } from '../eval/data-efficiency';
import type { JudgeCalibrationResult } from '../eval/judge-calibration';
import type { SeedSpread } from '../eval/seed-spread';
import type { RateInterval } from '../eval/stats';
import type { ControlInput, ControlPoint, JudgedEval, ValueCounts, ValueShare } from './arms';
import type { CalibrationBar, CalibrationSection, Withheld } from './claims';
import type { ComputeSection } from './compute';
import type { JudgeSpendSection } from './judge-spend';
import type { Usage } from '../cost/usage';

/** The shapes of the report's input and of results.json (msm-results-v4). Types and a few names only. */

/** An arm's name; its definition is in Results.arms (src/config/arms.ts). */
type Arm = string;

/** How much a cell trained, from the trainer's metrics and its loss_curve.json. */
export interface CellTraining {
  /** Rows trained on: AFT examples plus mix rows. */
  examples: number | null;
  aftExamples: number | null;
  mixExamples: number | null;
  /** Tokens of those rows the model read (padding excluded), and the answer tokens the loss was taken on. */
  tokens: number | null;
  targetTokens: number | null;
  /** Optimizer steps taken, the epochs they cover, and the warm-up steps of the schedule. */
  steps: number | null;
  epochs: number | null;
  warmupSteps: number | null;
  /** Steps taken at learning rate 0 (the trainer now never schedules one). */
  zeroLrSteps: number | null;
  /** The learning rate of every optimizer step; null when the run did not record it. */
  learningRates: number[] | null;
}

/**
 * The placebo control's lineage: the unrelated spec and its corpus, the token match (target: the MSM
 * corpus's tokens; the placebo corpus is cut at it) and the midtraining run, for the report and results.json.
 */
export interface PlaceboLineage {
  spec: { title: string; hash: string };
  corpus: { documents: number; hash: string };
  match: PlaceboMatch;
  midtrain: { checkpoint: string; finalLoss: number | null; steps: number };
}

/** midtrain.seeds: a midtraining beyond seed 0, on its corpus draw (0 when draws are shared), and its placebo. */
export interface MidtrainSeedLineage {
  seed: number;
  corpusDraw: number;
  corpus: { documents: number; tokens: number; hash: string };
  midtrain: { checkpoint: string; finalLoss: number | null; steps: number } | null;
  placebo?: Omit<PlaceboLineage, 'spec'>;
}

/** The declared analysis plan (experiment file: analysis), as the report applies it. */
export interface AnalysisPlan {
  primary?: { arm?: string; versus?: string; fraction?: number | 'largest' };
  /** The data-efficiency margin in percentage points (default 2). */
  efficiencyMargin?: number;
}

/**
 * The spec generated AFT data (aft.generate) came from: `key` its stored text; `path` only when
 * aft.generate.spec named it, absent when it is the experiment's own spec.
 */
export interface AftSpecLineage {
  title: string;
  hash: string;
  key: string;
  path?: string;
}

/** The tokenizer of every token the run trained on: a preset, or model:<folder>, and the sha256 its token keys use. */
export interface TokenizerLineage {
  name: string;
  sha256: string;
}

export interface ReportInput {
  experiment: {
    name: string;
    workflowId: string;
    specTitle: string;
    specHash: string;
    specVariant: string;
    /** Each variant's spec tokens (the experiment's tokenizer); absent in runs loaded before they were counted. */
    variantTokens?: Partial<Record<string, number>>;
    baseModel: string;
    /** baseModel.identity: who the corpus and AFT prompts said the model is; absent when not set. */
    identity?: ModelIdentity;
    corpus: {
      documents: number;
      tokens: number;
      hash: string;
      /** Kept and flagged. */
      truncated: number;
      /** Dropped: truncated (generation.truncated = "drop") and near-duplicates of an earlier document. */
      truncatedDropped: number;
      duplicatesRemoved: number;
      /** What generating the documents cost, at the experiment's price table (0 for a local model). */
      documentCostUsd: number;
      /** generation.targetTokens set: the estimated tokens assembled, top-up rounds, reached or short by how much. */
      target?: CorpusTargetStatus;
      /** Exact document lengths in the base model's tokens (eos excluded), from the tokenize stage. */
      tokenLengths?: {
        min: number;
        median: number;
        p95: number;
        max: number;
        histogramUri: string;
        documentTokensUri: string;
      };
    };
    midtrain?: { finalLoss: number | null; steps: number; checkpoint: string };
    /** Placebo arms: the same-token, unrelated-spec midtraining (absent: no placebo arm). */
    placebo?: PlaceboLineage;
    /** midtrain.seeds: the midtrainings beyond seed 0 (absent: one). */
    midtrains?: MidtrainSeedLineage[];
    /** The eval set evaluated: its lines, which split ("inspect": an Inspect task's grid) and of how many lines. */
    evalSet?: { sha256: string; prompts: number; split?: string; of?: number };
    /** How the eval was run: thinking (eval.thinking), the condition filter, the Inspect task; absent in older runs. */
    evalSettings?: { thinking?: string; conditions?: Record<string, string[]>; inspectTask?: string };
    /** The AFT data the sweep trained on (a pair such as the cheese toy must show the same hash). */
    aftData?: { sha256: string; examples: number };
    /** aft.generate: the spec the AFT data was generated from; absent for a hand-written file and in older runs. */
    aftSpec?: AftSpecLineage;
    /** The base model's tokenizer as the tokenize stage loaded it; absent in runs tokenized before it was recorded. */
    tokenizer?: TokenizerLineage;
    /** AFT examples per fraction and whether each seed drew its own subsets (aft.subsetBySeed); absent in older runs. */
    aftSubsets?: AftSubsetPlan;
    /** The overlap check of corpus and AFT data against eval and calibration items; absent in older runs. */
    contamination?: ContaminationSummary;
  };
  cells: Array<{
    arm: Arm;
    fraction: number;
    seed: number;
    /** midtrain.seeds (more than one): the midtraining the cell's arm started from. */
    midtrainSeed?: number;
    trainFinalLoss: number | null;
    modelUri: string;
    /** k of n judged samples; `unjudged`: samples the judge left without a verdict (not in n). */
    eval: JudgedEval;
    /** Judged samples split by eval prompt, each with its condition: the clusters of the bootstrap. */
    prompts?: PromptCount[];
    /** Results recorded before prompts were kept: the split by condition only (each condition then one cluster). */
    conditions?: ConditionCount[];
    training?: CellTraining;
    /** Agentic judges: of n samples, k emitted the harmful action tag well-formed. Never the headline. */
    executed?: { k: number; n: number };
    /** Forced choice: of n answers, k named no single option (each already counted as a miss). */
    unparsed?: { k: number; n: number };
    /** Of n samples with a recorded finish reason, k were cut off at maxNewTokens. */
    truncated?: { k: number; n: number };
    /** Values eval: answers per revealed value. */
    values?: ValueCounts;
  }>;
  /** The experiment's arms; absent: the arms present in cells, as presets (baseline, msm). */
  arms?: ArmDefinition[];
  /** Controls (arms with no AFT): one evaluation each. */
  controls?: ControlInput[];
  /** What the headline rate counts, when not violations (a values eval); default HEADLINE_METRIC. */
  metric?: string;
  generatedAt: string;
  bootstrap?: BootstrapSettings;
  /** Each training run's cost meter (midtraining, then the cells by id); absent: not recorded. */
  compute?: Array<{ run: string; usage: ComputeUsage }>;
  /** eval.capabilities: each arm's checks (absent: none configured). */
  capabilities?: CapabilityResult[];
  /** The judge's usage per evaluated cell and control, by id (absent: not recorded). */
  judging?: Array<{ run: string; usage?: Usage }>;
  /** The judge on the frozen calibration sets; absent or null: it was not calibrated (no claim is stated). */
  calibration?: JudgeCalibrationResult | null;
  /** The calibration bar (eval.calibration); absent: the defaults. */
  calibrationBar?: Partial<CalibrationBar>;
  /** AFT examples in the data (null: unknown), aft.minExamples and aft.minSteps. */
  aft?: { examples: number | null; minExamples?: number; minSteps?: number };
  analysis?: AnalysisPlan;
  /** eval.maxTruncationGap (percentage points; default 5): arms whose truncated shares differ by more are not compared. */
  maxTruncationGap?: number;
}

export interface ResultCell {
  /** The sweep's cell id (as in workflow ids), e.g. "msm-1of40-s0"; derived numbers cite these. */
  id: string;
  arm: Arm;
  fraction: number;
  fractionLabel: string;
  seed: number;
  /** midtrain.seeds (more than one): the midtraining the cell's arm started from; absent otherwise. */
  midtrainSeed?: number;
  /** What AFT started from: the midtraining checkpoint (msm) or the base model (baseline). */
  startsFrom: string;
  trainFinalLoss: number | null;
  modelUri: string;
  eval: ReportInput['cells'][number]['eval'];
  training: CellTraining | null;
  /** Judged samples per condition (summed over its prompts); null when only the totals are known. */
  conditions: ConditionCount[] | null;
  /** Judged samples per eval prompt; null when the split by prompt is unknown. */
  prompts: PromptCount[] | null;
  /** Pooled k/n with the prompt-clustered bootstrap interval (Wilson when the split is unknown). */
  misalignment: RateInterval;
  unjudged: number;
  executed: RateInterval | null;
  unparsed: RateInterval | null;
  /** Share of samples cut off at maxNewTokens; null when finish reasons were not recorded. */
  truncated: RateInterval | null;
  /** Values eval: share of answers revealing each value, and neither; null otherwise. */
  values: ValueShare[] | null;
}

export interface CurvePoint {
  fraction: number;
  fractionLabel: string;
  seeds: number;
  cellIds: string[];
  /** Pooled over seeds and prompts, with the cluster-bootstrap 95% interval: the plotted point. */
  misalignment: RateInterval;
  /** The Wilson interval the same k/n would have if every sample were an independent draw (for comparison). */
  wilson: RateInterval;
  /** Mean of per-condition rates with its interval; null when conditions are unknown. */
  macro: (Interval & { conditions: number }) | null;
  /** The rate corrected for the judge's measured error (Rogan–Gladen), calibration uncertainty included. */
  corrected: Interval | null;
  /** The judge's false positives alone could account for this rate: the corrected interval reaches 0. */
  withinJudgeError: boolean;
  unjudged: number;
  spread: SeedSpread | null;
  /** Seeds pooled, Wilson 95%; null unless every seed's cell has it. */
  executed: RateInterval | null;
  unparsed: RateInterval | null;
  /** Seeds pooled; null unless every seed's cell recorded finish reasons. */
  truncated: RateInterval | null;
  /** Values eval: seeds pooled; null unless every seed's cell has it. */
  values: ValueShare[] | null;
}

/** arm − versus at one fraction: the primary outcome, or one of the secondary contrasts. */
export interface Contrast {
  arm: Arm;
  versus: Arm;
  fraction: number;
  fractionLabel: string;
  role: 'primary' | 'secondary';
  cellIds: string[];
  /** Difference of pooled rates: cluster-bootstrap 95% interval and two-sided p; null when an arm has nothing judged. */
  pooled: (Interval & { p: number }) | null;
  macro: Interval | null;
  /** The difference of judge-error-corrected rates (calibration uncertainty included). */
  corrected: Interval | null;
  /** Secondary contrasts: p adjusted by Holm over all of them. */
  pHolm: number | null;
  unjudged: { arm: number; versus: number };
  /** Present when this difference may not be stated as a finding (src/report/claims.ts). */
  withheld?: Withheld;
}

/** A claim the report's answer makes, or withholds with the reason. */
export interface ClaimStatus {
  withheld?: Withheld;
}

/** The data-efficiency factor in examples and in tokens, at f* and at full data. */
export interface EfficiencyAmounts {
  fullFraction: number;
  fraction: number;
  examples: { full: number; atFraction: number; ratio: number } | null;
  tokens: { full: number; atFraction: number; ratio: number } | null;
}

export interface Results {
  format: 'msm-results-v4';
  /** The headline rate every number below is about. */
  metric: string;
  generatedAt: string;
  experiment: { name: string; workflowId: string; aftSubsets?: AftSubsetPlan };
  lineage: {
    /**
     * tokens: this variant's spec tokens; variantTokens: every variant's, so a Model Spec Science comparison
     * can see whether its variants differ in length as well as content (absent when not counted).
     */
    spec: {
      title: string;
      variant: string;
      hash: string;
      tokens?: number;
      variantTokens?: Partial<Record<string, number>>;
    };
    baseModel: string;
    /** The model's name and developer the corpus and AFT data spoke of (baseModel.identity); absent when not set. */
    identity?: ModelIdentity;
    corpus: ReportInput['experiment']['corpus'];
    midtrain: { checkpoint: string; finalLoss: number | null; steps: number } | null;
    /** Placebo arms only: the control's spec, corpus, token match and midtraining. */
    placebo?: PlaceboLineage;
    /** midtrain.seeds: the midtrainings beyond seed 0, each on its corpus draw (absent: one midtraining). */
    midtrains?: MidtrainSeedLineage[];
    evalSet: { sha256: string; prompts: number; split?: string; of?: number } | null;
    evalSettings: { thinking?: string; conditions?: Record<string, string[]>; inspectTask?: string } | null;
    /** AFT examples per fraction run (what the minExamples floor is checked against); null when unknown. */
    aft: {
      examples: number;
      minExamples: number;
      minSteps: number;
      fractions: Array<{ fraction: number; fractionLabel: string; examples: number }>;
    } | null;
    aftData: { sha256: string; examples: number } | null;
    /** aft.generate: the spec the AFT data was generated from (absent: aft.data, or an older run). */
    aftSpec?: AftSpecLineage;
    /** The tokenizer (absent in older runs: msm compare then cannot check it). */
    tokenizer?: TokenizerLineage;
    /** Training data against eval data (eval.decontaminate): counts per source and a few examples; absent when not checked. */
    contamination?: ContaminationSummary;
    judgeModels: string[];
    /** How to follow any number back to what produced it. */
    trace: string[];
  };
  /** The analysis plan as applied: the primary contrast, the margin, the clusters the intervals resample. */
  analysis: {
    primary: { arm: Arm; versus: Arm; fraction: number | null; declared: boolean };
    efficiencyMargin: number;
    /** midtrainings: independent midtraining runs (midtrain.seeds) the midtrained arms' clusters are; absent in older results. */
    clusters: { prompts: number; fewestSeeds: number; splitByPrompt: boolean; midtrainings?: number };
  };
  methods: Record<
    | 'intervals'
    | 'tests'
    | 'dataEfficiency'
    | 'judgeError'
    | 'unjudged'
    | 'conditions'
    | 'secondary'
    | 'calibration'
    | 'claims'
    | 'seeds',
    string
  > & { bootstrap: BootstrapSettings & { method: string }; midtraining?: string };
  /** The judge on the frozen calibration sets of each kind of judging the eval set uses, and the bar. */
  calibration: CalibrationSection;
  /** The study's answer: the sentences the report leads with, and each claim's status. */
  headline: {
    sentences: string[];
    claims: {
      rates: ClaimStatus;
      /** The primary contrast; null when its arms did not both run. */
      primary: (ClaimStatus & { arm: Arm; versus: Arm; fraction: number }) | null;
      dataEfficiency: ClaimStatus;
    };
  };
  /** Every arm: name, what it starts from, what it trains on, its eval system prompt. */
  arms: Array<ArmDefinition & { description: string }>;
  /** Every trained model with its own interval and lineage. */
  cells: ResultCell[];
  /** Controls (no AFT), evaluated once: reference levels for the curves. */
  controls: ControlPoint[];
  /** Per arm and fraction, seeds pooled: the points of the plot. */
  curves: Array<{ arm: Arm; points: CurvePoint[] }>;
  /** Every trained arm against the reference arm at every fraction both ran: the primary first. */
  differences: Contrast[];
  /** `summary` states the factor, or says it is withheld and why (the computed value still follows, marked). */
  dataEfficiency: DataEfficiencyWithInterval & {
    margin: number;
    amounts: EfficiencyAmounts | null;
    cellIds: string[];
    summary: string;
    withheld?: Withheld;
  };
  /** GPU-hours, cost, preemptions and GPU time lost per training run and in total, when recorded. */
  compute?: ComputeSection;
  /** The judge's calls, tokens and USD per cell and control, the total, and calibration apart (when metered). */
  judging?: JudgeSpendSection;
  /** eval.capabilities: scores per arm beside the misalignment rate (absent: none configured). */
  capabilities?: CapabilitySection;
}

export const HEADLINE_METRIC =
  "share of samples the judge found to show the undesired behaviour (judge verdict 'violates')";

/** The headline of a values eval: answers revealing the target value (stored as verdict 'violates'). */
export const valuesMetric = (targets: string[]) =>
  `share of answers revealing the target value ${targets.map((t) => `"${t}"`).join(' or ')} (parsed forced choice, or the values judge on open questions; unparseable choices count as misses)`;

/** As the workflow names cells: a midtraining seed other than 0 (midtrain.seeds) adds "-m<seed>". */
export const cellId = (arm: string, fraction: number, seed: number, midtrainSeed = 0) =>
  `${arm}-${fractionSlug(fraction)}-s${seed}${midtrainSuffix(midtrainSeed)}`;

/** The cluster-data group of an arm × fraction (seeds pooled), of one cell, and of a control. */
export const pointGroup = (arm: string, fraction: number) => `point:${arm}@${fraction}`;
export const cellGroup = (id: string) => `cell:${id}`;
export const controlGroup = (id: string) => `control:${id}`;
