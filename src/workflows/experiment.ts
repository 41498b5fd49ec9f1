import {
  ApplicationFailure,
  condition,
  executeChild,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { sumUsage, type ComputeUsage } from '../cost/compute-usage';
import type { ExperimentInput } from '../config/experiment-schema';
import { fractionLabel, fractionSlug } from '../config/fractions';
import type { CellResult, LoadedExperiment, ReportResult, TrainResult } from '../activities/types';
import { cpu } from './activity-proxies';
import { aftDataGeneration } from './aft-data';
import { runBounded } from './bounded';
import { corpusGeneration } from './corpus';
import {
  pauseSignal,
  progressQuery,
  resumeSignal,
  setConcurrencyUpdate,
  type CellProgress,
  type ExperimentProgress,
  type Stage,
} from './definitions';
import { evaluationRun } from './evaluation';
import { reportRun } from './report';
import { MSM_ARM, MSM_BASE_MODEL, MSM_FRACTION, MSM_SPEC, MSM_STAGE } from './search-attributes';
import { trainingRun } from './training';

export interface ExperimentOutcome {
  report: ReportResult;
  cells: Array<{ id: string; arm: string; fraction: number; seed: number; k: number; n: number }>;
  corpusHash: string;
  specHash: string;
}

/**
 * The whole MSM study: spec -> corpus -> tokens -> midtraining -> AFT sweep (arms x fractions x seeds)
 * -> evaluation -> report. Every stage is a child workflow or an idempotent activity whose outputs live
 * in the artifact store, so a crash anywhere costs minutes and never repeats paid work.
 */
export async function msmExperiment(input: ExperimentInput): Promise<ExperimentOutcome> {
  const wfId = workflowInfo().workflowId;
  const progress: ExperimentProgress = { stage: 'loading', paused: false, cells: [], sweepConcurrency: 1 };
  setHandler(progressQuery, () => progress);
  setHandler(pauseSignal, () => void (progress.paused = true));
  setHandler(resumeSignal, () => void (progress.paused = false));
  setHandler(setConcurrencyUpdate, (n) => (progress.sweepConcurrency = n), {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error('concurrency must be an integer in 1..64');
    },
  });

  // The cost meter in the progress query: every finished training run's machines, summed.
  const runsCompute: ComputeUsage[] = [];
  const addCompute = (r: TrainResult) => {
    if (!r.compute) return;
    runsCompute.push(r.compute);
    progress.compute = sumUsage(runsCompute);
  };

  const enter = async (stage: Stage, details: string) => {
    await condition(() => !progress.paused);
    progress.stage = stage;
    upsertSearchAttributes([{ key: MSM_STAGE, value: stage }]);
    setCurrentDetails(`**${stage}** — ${details}`);
  };

  await enter('loading', 'validating the experiment and the spec');
  const loaded: LoadedExperiment = await cpu.loadExperiment(input);
  const x = loaded.experiment;
  const { storeUri } = loaded;
  progress.spec = { title: loaded.spec.title, hash: loaded.spec.hash };
  progress.sweepConcurrency = x.aft.concurrency;
  const common = [
    { key: MSM_SPEC, value: loaded.spec.title },
    { key: MSM_BASE_MODEL, value: x.baseModel.name },
  ];
  upsertSearchAttributes(common);

  await enter('corpus', `generating documents about "${loaded.spec.title}"`);
  const corpus = await executeChild(corpusGeneration, {
    workflowId: `${wfId}.corpus`,
    args: [{ storeUri, specKey: loaded.spec.key, specHash: loaded.spec.hash, generation: x.generation }],
    typedSearchAttributes: common,
    staticSummary: `MSM corpus for ${x.name}`,
  });
  progress.corpus = {
    documents: corpus.documents,
    truncated: corpus.truncated,
    truncatedDropped: corpus.truncatedDropped,
    duplicatesRemoved: corpus.duplicatesRemoved,
    hash: corpus.hash,
  };

  // aft.generate: the AFT data is made from the spec by a child (new in this version, hence the patch;
  // histories recorded before it never configure it).
  let aftData = loaded.aftData;
  const generate = x.aft.generate;
  if (generate && patched('aft-data-generation')) {
    await enter('aft-data', `generating ${generate.count} AFT examples (${generate.style} style) about "${loaded.spec.title}"`);
    const gen = await executeChild(aftDataGeneration, {
      workflowId: `${wfId}.aft-data`,
      args: [{ storeUri, specKey: loaded.spec.key, specHash: loaded.spec.hash, generate }],
      typedSearchAttributes: common,
      staticSummary: `AFT data for ${x.name}`,
    });
    const file = generate.train === 'with-reasoning' ? gen.withReasoning : gen.withoutReasoning;
    aftData = { key: file.key, sha256: file.sha256, examples: gen.examples };
    const c = gen.counts;
    progress.aftData = { examples: gen.examples, requested: c.requested, excludedByFilter: c.excludedByFilter, duplicates: c.duplicates, backfillRounds: c.backfillRounds, sha256: file.sha256 };
  }
  if (!aftData) throw ApplicationFailure.nonRetryable('aft: no AFT data; set aft.data (a chat JSONL file) or aft.generate', 'BadInput');

  await enter('tokenize', `${corpus.documents} documents with the ${x.baseModel.tokenizer} tokenizer`);
  const family = x.baseModel.tokenizer;
  const tokens = await cpu.tokenizeCorpus(storeUri, corpus, { family, seqLen: x.tokenization.seqLen, shuffleSeed: x.tokenization.shuffleSeed });
  const aftTokens = await cpu.tokenizeAftData(storeUri, aftData, { family, seqLen: x.aft.seqLen });
  // The instruction-tuning mix, tokenized exactly like the AFT data; every cell of every arm gets it.
  const mixTokens = x.aft.mix && loaded.mixData && patched('aft-mix')
    ? await cpu.tokenizeAftData(storeUri, loaded.mixData, { family, seqLen: x.aft.seqLen })
    : undefined;
  const mix = mixTokens && x.aft.mix ? { data: mixTokens, ratio: x.aft.mix.ratio } : undefined;
  progress.tokens = { sequences: tokens.numSequences, tokens: tokens.numTokens };

  let midtrain: TrainResult | null = null;
  const baseModel = { baseModel: x.baseModel, compute: x.compute };
  if (x.aft.arms.includes('msm')) {
    await enter('midtrain', `${tokens.numTokens} tokens on ${x.baseModel.name}`);
    midtrain = await executeChild(trainingRun, {
      workflowId: `${wfId}.midtrain`,
      args: [{ kind: 'midtrain', storeUri, label: 'midtrain', data: tokens, seed: 0, experiment: baseModel, hyper: x.midtrain }],
      typedSearchAttributes: common,
      staticSummary: `Midtraining ${x.baseModel.name} on the MSM corpus`,
    });
    progress.midtrain = { outputUri: midtrain.outputUri, finalLoss: midtrain.metrics.final_loss, resumedFromStep: midtrain.resumedFromStep, compute: midtrain.compute };
    addCompute(midtrain);
  }

  const cells: CellProgress[] = x.aft.arms.flatMap((arm) =>
    x.aft.fractions.flatMap((fraction) =>
      x.aft.seeds.map((seed) => ({ id: `${arm}-${fractionSlug(fraction)}-s${seed}`, arm, fraction, seed, status: 'pending' as const })),
    ),
  );
  progress.cells = cells;
  await enter('aft-sweep', `${cells.length} cells: ${x.aft.arms.join(', ')} × ${x.aft.fractions.map(fractionLabel).join(', ')} × seeds ${x.aft.seeds.join(', ')}`);
  const results: CellResult[] = await runBounded(cells.length, () => progress.sweepConcurrency, () => !progress.paused, async (i) => {
    const cell = cells[i];
    const attrs = [...common, { key: MSM_ARM, value: cell.arm }, { key: MSM_FRACTION, value: cell.fraction }];
    cell.status = 'training';
    const train = await executeChild(trainingRun, {
      workflowId: `${wfId}.aft-${cell.id}`,
      args: [{
        kind: 'aft',
        storeUri,
        label: `aft-${cell.id}`,
        data: aftTokens,
        fraction: cell.fraction,
        seed: cell.seed,
        initFrom: cell.arm === 'msm' && midtrain ? { outputUri: midtrain.outputUri } : undefined,
        ...(cell.arm === 'msm' && midtrain && x.aft.continueAdapter === false ? { freshAdapter: true } : {}),
        ...(mix ? { mix } : {}),
        ...(x.aft.subsetBySeed ? { subsetBySeed: true } : {}),
        experiment: baseModel,
        hyper: x.aft.hyper,
      }],
      typedSearchAttributes: attrs,
      staticSummary: `AFT ${cell.arm} at ${fractionLabel(cell.fraction)} of the data, seed ${cell.seed}`,
    });
    cell.compute = train.compute;
    addCompute(train);
    cell.status = 'evaluating';
    const evalSummary = await executeChild(evaluationRun, {
      workflowId: `${wfId}.eval-${cell.id}`,
      args: [{
        storeUri,
        label: `eval-${cell.id}`,
        modelUri: train.outputUri,
        tokenizerUri: aftTokens.tokenizerUri,
        evalSet: loaded.evalSet,
        experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
        seed: cell.seed,
      }],
      typedSearchAttributes: attrs,
      staticSummary: `Evaluate ${cell.arm} at ${fractionLabel(cell.fraction)}, seed ${cell.seed}`,
    });
    cell.status = 'done';
    cell.rate = evalSummary.n ? evalSummary.k / evalSummary.n : undefined;
    setCurrentDetails(`**aft-sweep** — ${cells.filter((c) => c.status === 'done').length}/${cells.length} cells done`);
    return { arm: cell.arm, fraction: cell.fraction, seed: cell.seed, train, eval: evalSummary };
  });

  await enter('report', 'writing results.json and the HTML report');
  const { experiment: _omit, ...loadedRefs } = loaded;
  const report = await executeChild(reportRun, {
    workflowId: `${wfId}.report`,
    args: [{
      storeUri,
      workflowId: wfId,
      loaded: { ...loadedRefs, aftData, name: x.name, baseModel: x.baseModel.name },
      corpus,
      tokens,
      midtrain,
      cells: results,
    }],
    typedSearchAttributes: common,
  });
  progress.report = report;
  progress.stage = 'done';
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'done' }]);
  setCurrentDetails(`**done** — report at ${report.htmlUri}`);
  return {
    report,
    cells: results.map((r, i) => ({ id: cells[i].id, arm: r.arm, fraction: r.fraction, seed: r.seed, k: r.eval.k, n: r.eval.n })),
    corpusHash: corpus.hash,
    specHash: loaded.spec.hash,
  };
}
