import type { JudgedSplit } from '../eval/judgments';
import type { EvalSummary } from '../eval/types';
import { cellId, valuesMetric, type ReportInput } from './results';
import type { ReportRequest } from './types';

const finite = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);

/** A cell's or control's judged counts, and its split by condition when the stored judgments add up. */
function judged(e: EvalSummary, split: JudgedSplit | undefined) {
  return {
    eval: { k: e.k, n: e.n, samplesUri: e.samplesUri, judgeModel: e.judgeModel, judgmentsUri: e.judgmentsPrefix },
    conditions: split?.conditions,
    executed: split?.executed ?? undefined,
    unparsed: split?.unparsed ?? undefined,
    values: split?.values ?? undefined,
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
    baseModel: loaded.baseModel,
    corpus: {
      documents: corpus.documents,
      tokens: tokens.numTokens,
      hash: corpus.hash,
      truncated: corpus.truncated,
      // Absent from manifests written before assembly dropped documents or metered cost.
      truncatedDropped: corpus.truncatedDropped ?? 0,
      duplicatesRemoved: corpus.duplicatesRemoved ?? 0,
      documentCostUsd: corpus.documentUsage?.costUsd ?? 0,
      ...(tokens.documentStats && { tokenLengths: tokenLengthsOf(tokens.documentStats) }),
    },
    midtrain: midtrain
      ? {
          finalLoss: finite(midtrain.metrics.final_loss),
          steps: midtrain.metrics.steps ?? 0,
          checkpoint: midtrain.outputUri,
        }
      : undefined,
    evalSet: { sha256: loaded.evalSet.sha256, prompts: loaded.evalSet.prompts },
    ...(loaded.aftData ? { aftData: { sha256: loaded.aftData.sha256, examples: loaded.aftData.examples } } : {}),
    ...(loaded.aftSubsets && { aftSubsets: loaded.aftSubsets }),
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
): ReportInput {
  const targets = [...new Set([...splits, ...controlSplits].flatMap((s) => s?.targets ?? []))].sort();
  return {
    experiment: experimentOf(req),
    cells: req.cells.map((c, i) => ({
      arm: c.arm,
      fraction: c.fraction,
      seed: c.seed,
      trainFinalLoss: finite(c.train.metrics.final_loss),
      modelUri: c.train.outputUri,
      ...judged(c.eval, splits[i]),
    })),
    ...(req.arms ? { arms: req.arms } : {}),
    controls: (req.controls ?? []).map((c, i) => ({
      arm: c.arm,
      seed: c.seed,
      modelUri: c.modelUri,
      ...judged(c.eval, controlSplits[i]),
    })),
    // A values eval counts answers that reveal its target value, not violations: the metric says so.
    metric: targets.length ? valuesMetric(targets) : undefined,
    generatedAt: new Date().toISOString(),
    // Absent when the report workflow predates calibration: then no claim is stated as a finding.
    calibration: req.calibration ?? null,
    minBalancedAccuracy: req.claims?.minBalancedAccuracy,
    aft: { examples: req.loaded.aftData?.examples ?? null, minExamples: req.claims?.minExamples },
    compute: [
      ...(req.midtrain?.compute ? [{ run: 'midtrain', usage: req.midtrain.compute }] : []),
      ...req.cells.flatMap((c) =>
        c.train.compute ? [{ run: cellId(c.arm, c.fraction, c.seed), usage: c.train.compute }] : [],
      ),
    ],
  };
}
