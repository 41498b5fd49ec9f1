import type { JudgedSplit } from '../eval/judgments';
import type { EvalSummary } from '../eval/types';
import { midtrainLabel } from '../config/midtrain';
import type { TrainResult } from '../training/types';
import { controlId } from './arms';
import { cellId, valuesMetric, type CellTraining, type ReportInput } from './results';
import type { MidtrainSeedLineage } from './results-types';
import type { MidtrainSeedRun, ReportRequest } from './types';

const finite = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);

/** A cell's or control's judged counts, and its split by prompt when the stored judgments add up. */
function judged(e: EvalSummary, split: JudgedSplit | undefined) {
  return {
    eval: {
      k: e.k,
      n: e.n,
      samplesUri: e.samplesUri,
      judgeModel: e.judgeModel,
      judgmentsUri: e.judgmentsPrefix,
      unjudged: split?.unjudged ?? e.unjudged ?? 0,
      ...(e.logsUri && { logsUri: e.logsUri }),
    },
    prompts: split?.prompts,
    executed: split?.executed ?? undefined,
    unparsed: split?.unparsed ?? undefined,
    truncated: split?.truncated ?? undefined,
    values: split?.values ?? undefined,
  };
}

const metric = (m: Record<string, number>, key: string) => finite(m[key]);

/** How much a cell trained: the trainer's metrics and, from its loss_curve.json, each step's learning rate. */
export function trainingOf(metrics: Record<string, number>, learningRates: number[] | null): CellTraining {
  const examples = metric(metrics, 'examples');
  const mix = metric(metrics, 'mix_examples');
  return {
    examples,
    aftExamples: metric(metrics, 'aft_examples') ?? (examples !== null ? examples - (mix ?? 0) : null),
    mixExamples: mix ?? (examples !== null ? 0 : null),
    tokens: metric(metrics, 'tokens'),
    targetTokens: metric(metrics, 'target_tokens'),
    steps: metric(metrics, 'steps'),
    epochs: metric(metrics, 'epochs'),
    warmupSteps: metric(metrics, 'warmup_steps'),
    zeroLrSteps: learningRates ? learningRates.filter((lr) => lr === 0).length : metric(metrics, 'zero_lr_steps'),
    learningRates,
  };
}

/** Datasets tokenized before per-document counts existed carry none. */
function tokenLengthsOf(st: NonNullable<ReportRequest['tokens']['documentStats']>) {
  const { min, median, p95, max } = st.summary;
  return { min, median, p95, max, histogramUri: st.histogramUri, documentTokensUri: st.documentTokensUri };
}

function experimentOf(req: ReportRequest): ReportInput['experiment'] {
  const { loaded, corpus, tokens, midtrain } = req;
  return {
    name: loaded.name,
    workflowId: req.workflowId,
    specTitle: loaded.spec.title,
    specHash: loaded.spec.hash,
    specVariant: loaded.spec.variant,
    ...(loaded.spec.variantTokens && { variantTokens: loaded.spec.variantTokens }),
    baseModel: loaded.baseModel,
    ...(loaded.identity && { identity: loaded.identity }),
    corpus: {
      documents: corpus.documents,
      tokens: tokens.numTokens,
      hash: corpus.hash,
      truncated: corpus.truncated,
      // Absent from manifests written before assembly dropped documents or metered cost.
      truncatedDropped: corpus.truncatedDropped ?? 0,
      duplicatesRemoved: corpus.duplicatesRemoved ?? 0,
      documentCostUsd: corpus.documentUsage?.costUsd ?? 0,
      ...(corpus.target && { target: corpus.target }),
      ...(tokens.documentStats && { tokenLengths: tokenLengthsOf(tokens.documentStats) }),
    },
    midtrain: midtrain ? runLineage(midtrain) : undefined,
    ...(req.placebo && {
      placebo: {
        spec: req.placebo.spec,
        corpus: { documents: req.placebo.corpus.documents, hash: req.placebo.corpus.hash },
        match: req.placebo.match,
        midtrain: runLineage(req.placebo.midtrain),
      },
    }),
    ...(req.midtrains?.length && { midtrains: req.midtrains.map(midtrainSeedLineage) }),
    evalSet: {
      sha256: loaded.evalSet.sha256,
      prompts: loaded.evalSet.prompts,
      ...(loaded.evalSet.split !== undefined && { split: loaded.evalSet.split }),
      ...(loaded.evalSet.of !== undefined && { of: loaded.evalSet.of }),
    },
    ...(req.evalSettings && { evalSettings: req.evalSettings }),
    ...(loaded.aftData ? { aftData: { sha256: loaded.aftData.sha256, examples: loaded.aftData.examples } } : {}),
    ...(loaded.aftSpec && { aftSpec: loaded.aftSpec }),
    ...(tokens.tokenizer && { tokenizer: tokens.tokenizer }),
    ...(loaded.aftSubsets && { aftSubsets: loaded.aftSubsets }),
    ...(req.contamination && { contamination: req.contamination }),
  };
}

/**
 * The report's input from the workflow's request and each cell's and control's stored judgments (split
 * by condition; `splits` and `controlSplits` in request order, undefined where they did not add up).
 */
export function reportInputOf(
  req: ReportRequest,
  splits: Array<JudgedSplit | undefined>,
  controlSplits: Array<JudgedSplit | undefined>,
  learningRates: ReadonlyMap<string, number[] | null> = new Map(),
): ReportInput {
  const targets = [...new Set([...splits, ...controlSplits].flatMap((s) => s?.targets ?? []))].sort();
  const c = req.claims ?? {};
  return {
    experiment: experimentOf(req),
    cells: req.cells.map((cell, i) => {
      const id = cellId(cell.arm, cell.fraction, cell.seed, cell.midtrainSeed);
      return {
        arm: cell.arm,
        fraction: cell.fraction,
        seed: cell.seed,
        ...(cell.midtrainSeed !== undefined && { midtrainSeed: cell.midtrainSeed }),
        trainFinalLoss: finite(cell.train.metrics.final_loss),
        modelUri: cell.train.outputUri,
        training: trainingOf(cell.train.metrics, learningRates.get(id) ?? null),
        ...judged(cell.eval, splits[i]),
      };
    }),
    ...(req.arms ? { arms: req.arms } : {}),
    controls: (req.controls ?? []).map((control, i) => ({
      arm: control.arm,
      seed: control.seed,
      ...(control.midtrainSeed !== undefined && { midtrainSeed: control.midtrainSeed }),
      modelUri: control.modelUri,
      ...judged(control.eval, controlSplits[i]),
    })),
    // A values eval counts answers that reveal its target value, not violations: the metric says so.
    metric: targets.length ? valuesMetric(targets) : undefined,
    generatedAt: new Date().toISOString(),
    // Absent when the report workflow predates calibration: then no claim is stated as a finding.
    calibration: req.calibration ?? null,
    calibrationBar: {
      ...(c.maxFalsePositiveRate !== undefined && { maxFalsePositiveRate: c.maxFalsePositiveRate }),
      ...(c.maxFalseNegativeRate !== undefined && { maxFalseNegativeRate: c.maxFalseNegativeRate }),
      ...(c.minBalancedAccuracy !== undefined && { minBalancedAccuracy: c.minBalancedAccuracy }),
    },
    aft: { examples: req.loaded.aftData?.examples ?? null, minExamples: c.minExamples, minSteps: c.minSteps },
    ...(req.analysis ? { analysis: req.analysis } : {}),
    ...(c.maxTruncationGap !== undefined && { maxTruncationGap: c.maxTruncationGap }),
    compute: [
      ...(req.midtrain?.compute ? [{ run: midtrainLabel('msm'), usage: req.midtrain.compute }] : []),
      ...(req.placebo?.midtrain.compute
        ? [{ run: midtrainLabel('placebo'), usage: req.placebo.midtrain.compute }]
        : []),
      ...(req.midtrains ?? []).flatMap(midtrainCompute),
      ...req.cells.flatMap((cell) => (cell.train.compute ? [{ run: runIdOf(cell), usage: cell.train.compute }] : [])),
      ...(req.capabilities ?? []).flatMap((r) =>
        r.compute ? [{ run: `capabilities-${r.arm}`, usage: r.compute }] : [],
      ),
    ],
    ...(req.capabilities?.length && { capabilities: req.capabilities }),
    judging: [
      ...req.cells.map((cell) => ({ run: runIdOf(cell), usage: cell.eval.judgeUsage })),
      ...(req.controls ?? []).map((c) => ({ run: controlId(c), usage: c.eval.judgeUsage })),
    ],
  };
}

/** A cell's run name (its id), as the workflow named it. */
const runIdOf = (cell: ReportRequest['cells'][number]) => cellId(cell.arm, cell.fraction, cell.seed, cell.midtrainSeed);

/** A training run as lineage: its checkpoint, final loss and steps. */
const runLineage = (run: TrainResult) => ({
  finalLoss: finite(run.metrics.final_loss),
  steps: run.metrics.steps ?? 0,
  checkpoint: run.outputUri,
});

/** midtrain.seeds: a further midtraining as lineage (its corpus draw, its runs). */
function midtrainSeedLineage(m: MidtrainSeedRun): MidtrainSeedLineage {
  return {
    seed: m.seed,
    corpusDraw: m.corpusDraw,
    corpus: { documents: m.corpus.documents, tokens: m.tokens.numTokens, hash: m.corpus.hash },
    midtrain: m.midtrain && runLineage(m.midtrain),
    ...(m.placebo && {
      placebo: {
        corpus: { documents: m.placebo.corpus.documents, hash: m.placebo.corpus.hash },
        match: m.placebo.match,
        midtrain: runLineage(m.placebo.midtrain),
      },
    }),
  };
}

/** A further midtraining's machines, under its run names. */
function midtrainCompute(m: MidtrainSeedRun) {
  return [
    ...(m.midtrain?.compute ? [{ run: midtrainLabel('msm', m.seed), usage: m.midtrain.compute }] : []),
    ...(m.placebo?.midtrain.compute
      ? [{ run: midtrainLabel('placebo', m.seed), usage: m.placebo.midtrain.compute }]
      : []),
  ];
}
