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
import type { CellResult, ControlResult, ReportResult } from '../report/types';
import type { LoadedExperiment } from '../spec/loaded-experiment';
import type { TrainResult } from '../training/types';
import { CONTROL_SEED, isControl, needsMidtraining, resolveArms, trainingName, type Arm } from '../config/arms';
import type { SearchAttributePair } from '@temporalio/common';
import { cpu } from './activity-proxies';
import { aftDataGeneration } from './aft-data';
import { runBounded } from './bounded';
import { corpusGeneration } from './corpus';
import { progressQuery, type CellProgress, type ExperimentProgress, type Stage } from './definitions';
import { evaluationRun } from './evaluation';
import { reportRun } from './report';
import { handleRunControls } from './run-controls';
import { MSM_ARM, MSM_BASE_MODEL, MSM_FRACTION, MSM_SPEC, MSM_STAGE } from './search-attributes';
import { trainingRun } from './training';

/**
 * aft.minExamples when the experiment has it (the up-front check of examples per fraction adds it to the
 * schema); the report then applies the same floor, else its default of 16.
 */
export interface ExperimentOutcome {
  report: ReportResult;
  cells: Array<{ id: string; arm: string; fraction: number; seed: number; k: number; n: number }>;
  /** Controls (aft: none): one evaluation each, no fraction. */
  controls: Array<{ id: string; arm: string; seed: number; k: number; n: number }>;
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
  handleRunControls(progress, (n) => (progress.sweepConcurrency = n));

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
  // Histories recorded before arms were data carry preset names only: they resolve to the same arms.
  const arms = resolveArms(x.aft.arms);
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
  let withReasoning: { key: string; sha256: string; examples: number } | undefined;
  const generate = x.aft.generate;
  if (generate && patched('aft-data-generation')) {
    await enter(
      'aft-data',
      `generating ${generate.count} AFT examples (${generate.style} style) about "${loaded.spec.title}"`,
    );
    const gen = await executeChild(aftDataGeneration, {
      workflowId: `${wfId}.aft-data`,
      args: [{ storeUri, specKey: loaded.spec.key, specHash: loaded.spec.hash, generate }],
      typedSearchAttributes: common,
      staticSummary: `AFT data for ${x.name}`,
    });
    const file = generate.train === 'with-reasoning' ? gen.withReasoning : gen.withoutReasoning;
    withReasoning = { key: gen.withReasoning.key, sha256: gen.withReasoning.sha256, examples: gen.examples };
    aftData = { key: file.key, sha256: file.sha256, examples: gen.examples };
    const c = gen.counts;
    progress.aftData = {
      examples: gen.examples,
      requested: c.requested,
      excludedByFilter: c.excludedByFilter,
      duplicates: c.duplicates,
      backfillRounds: c.backfillRounds,
      sha256: file.sha256,
    };
  }
  if (!aftData)
    throw ApplicationFailure.nonRetryable(
      'aft: no AFT data; set aft.data (a chat JSONL file) or aft.generate',
      'BadInput',
    );

  await enter('tokenize', `${corpus.documents} documents with the ${x.baseModel.tokenizer} tokenizer`);
  const family = x.baseModel.tokenizer;
  const tokens = await cpu.tokenizeCorpus(storeUri, corpus, {
    family,
    seqLen: x.tokenization.seqLen,
    shuffleSeed: x.tokenization.shuffleSeed,
  });
  const aftTokens = await cpu.tokenizeAftData(storeUri, aftData, { family, seqLen: x.aft.seqLen });
  // The instruction-tuning mix, tokenized exactly like the AFT data; every cell of every arm gets it.
  const mixTokens =
    x.aft.mix && loaded.mixData && patched('aft-mix')
      ? await cpu.tokenizeAftData(storeUri, loaded.mixData, { family, seqLen: x.aft.seqLen })
      : undefined;
  const mix = mixTokens && x.aft.mix ? { data: mixTokens, ratio: x.aft.mix.ratio } : undefined;
  progress.tokens = { sequences: tokens.numSequences, tokens: tokens.numTokens };

  let midtrain: TrainResult | null = null;
  // The W&B block rides along to the trainer; experiments without one send what they always sent.
  const baseModel = {
    baseModel: x.baseModel,
    compute: x.compute,
    ...(x.logging && patched('trainer-logging') ? { logging: x.logging } : {}),
  };
  // Midtraining runs when any arm starts from it (for the arms of earlier versions: when "msm" is one).
  if (needsMidtraining(arms)) {
    await enter('midtrain', `${tokens.numTokens} tokens on ${x.baseModel.name}`);
    midtrain = await executeChild(trainingRun, {
      workflowId: `${wfId}.midtrain`,
      args: [
        {
          kind: 'midtrain',
          storeUri,
          label: 'midtrain',
          data: tokens,
          seed: 0,
          experiment: baseModel,
          hyper: x.midtrain,
        },
      ],
      typedSearchAttributes: common,
      staticSummary: `Midtraining ${x.baseModel.name} on the MSM corpus`,
    });
    progress.midtrain = {
      outputUri: midtrain.outputUri,
      finalLoss: midtrain.metrics.final_loss,
      resumedFromStep: midtrain.resumedFromStep,
      compute: midtrain.compute,
    };
    addCompute(midtrain);
  }
  // Arms that train on spec-citing reasoning (deliberative) get the with-reasoning file, on the same
  // budget per fraction: the file has the same examples (generated together, or checked at load).
  const reasoningFile = arms.some((a) => a.aft === 'with-reasoning')
    ? (withReasoning ?? loaded.reasoningData)
    : undefined;
  const reasoningTokens = reasoningFile
    ? await cpu.tokenizeAftData(storeUri, reasoningFile, { family, seqLen: x.aft.seqLen })
    : undefined;
  const dataOf = (arm: Arm) => (arm.aft === 'with-reasoning' ? reasoningTokens! : aftTokens);
  const specPrompt = { key: loaded.spec.key, sha256: loaded.spec.hash };

  // AFT arms: arms × fractions × seeds, as always; controls (aft: none): one evaluation each, at CONTROL_SEED.
  const armOf = new Map(arms.map((a) => [a.name, a]));
  const cells: CellProgress[] = arms.flatMap((arm) =>
    isControl(arm)
      ? [
          {
            id: `${arm.name}-s${CONTROL_SEED}`,
            arm: arm.name,
            fraction: 0,
            seed: CONTROL_SEED,
            status: 'pending' as const,
          },
        ]
      : x.aft.fractions.flatMap((fraction) =>
          x.aft.seeds.map((seed) => ({
            id: `${arm.name}-${fractionSlug(fraction)}-s${seed}`,
            arm: arm.name,
            fraction,
            seed,
            status: 'pending' as const,
          })),
        ),
  );
  progress.cells = cells;

  // Arms that train the same model (same start, same data: spec-in-context and baseline) share one run.
  const runs = new Map<string, Promise<TrainResult>>();
  const trainCell = (arm: Arm, cell: CellProgress, attrs: SearchAttributePair[]): Promise<TrainResult> => {
    const runId = `${trainingName(arm)}-${fractionSlug(cell.fraction)}-s${cell.seed}`;
    let run = runs.get(runId);
    if (!run) {
      const fromMsm = arm.start === 'msm' && midtrain;
      run = executeChild(trainingRun, {
        workflowId: `${wfId}.aft-${runId}`,
        args: [
          {
            kind: 'aft',
            storeUri,
            label: `aft-${runId}`,
            data: dataOf(arm),
            fraction: cell.fraction,
            seed: cell.seed,
            initFrom: fromMsm ? { outputUri: midtrain!.outputUri } : undefined,
            ...(fromMsm && x.aft.continueAdapter === false ? { freshAdapter: true } : {}),
            ...(mix ? { mix } : {}),
            ...(x.aft.subsetBySeed ? { subsetBySeed: true } : {}),
            experiment: baseModel,
            hyper: x.aft.hyper,
          },
        ],
        typedSearchAttributes: attrs,
        staticSummary: `AFT ${trainingName(arm)} at ${fractionLabel(cell.fraction)} of the data, seed ${cell.seed}`,
      }).then((r) => (addCompute(r), r));
      runs.set(runId, run);
    }
    return run;
  };

  const armList = arms.map((a) => a.name).join(', ');
  await enter(
    'aft-sweep',
    `${cells.length} cells: ${armList} × ${x.aft.fractions.map(fractionLabel).join(', ')} × seeds ${x.aft.seeds.join(', ')}`,
  );
  const outcomes = await runBounded(
    cells.length,
    () => progress.sweepConcurrency,
    () => !progress.paused,
    async (i) => {
      const cell = cells[i];
      const arm = armOf.get(cell.arm)!;
      const attrs: SearchAttributePair[] = [
        ...common,
        { key: MSM_ARM, value: cell.arm },
        { key: MSM_FRACTION, value: cell.fraction },
      ];
      let train: TrainResult | null = null;
      if (!isControl(arm)) {
        cell.status = 'training';
        train = await trainCell(arm, cell, attrs);
        cell.compute = train.compute;
      }
      // A control evaluates the model it starts from: the midtrained one, or the base model (modelUri null).
      const modelUri = train ? train.outputUri : arm.start === 'msm' ? midtrain!.outputUri : null;
      const where = isControl(arm) ? 'no AFT' : `${fractionLabel(cell.fraction)}, seed ${cell.seed}`;
      cell.status = 'evaluating';
      const evalSummary = await executeChild(evaluationRun, {
        workflowId: `${wfId}.eval-${cell.id}`,
        args: [
          {
            storeUri,
            label: `eval-${cell.id}`,
            modelUri,
            tokenizerUri: aftTokens.tokenizerUri,
            evalSet: loaded.evalSet,
            experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
            seed: cell.seed,
            ...(arm.systemPrompt === 'spec' ? { systemPrompt: specPrompt } : {}),
          },
        ],
        typedSearchAttributes: attrs,
        staticSummary: `Evaluate ${cell.arm} at ${where}`,
      });
      cell.status = 'done';
      cell.rate = evalSummary.n ? evalSummary.k / evalSummary.n : undefined;
      setCurrentDetails(
        `**aft-sweep** — ${cells.filter((c) => c.status === 'done').length}/${cells.length} cells done`,
      );
      return { cell, train, modelUri, eval: evalSummary };
    },
  );
  const results: CellResult[] = outcomes.flatMap((o) =>
    o.train ? [{ arm: o.cell.arm, fraction: o.cell.fraction, seed: o.cell.seed, train: o.train, eval: o.eval }] : [],
  );
  const controls: ControlResult[] = outcomes.flatMap((o) =>
    o.train ? [] : [{ arm: o.cell.arm, seed: o.cell.seed, modelUri: o.modelUri, eval: o.eval }],
  );

  await enter('report', 'writing results.json and the HTML report');
  const { experiment: _omit, ...loadedRefs } = loaded;
  const report = await executeChild(reportRun, {
    workflowId: `${wfId}.report`,
    args: [
      {
        storeUri,
        workflowId: wfId,
        loaded: { ...loadedRefs, aftData, name: x.name, baseModel: x.baseModel.name },
        corpus,
        tokens,
        midtrain,
        cells: results,
        arms,
        ...(controls.length ? { controls } : {}),
        judge: x.eval.judge,
        claims: { minBalancedAccuracy: x.eval.calibration?.minBalancedAccuracy, minExamples: x.aft.minExamples },
      },
    ],
    typedSearchAttributes: common,
  });
  progress.report = report;
  progress.stage = 'done';
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'done' }]);
  setCurrentDetails(`**done** — report at ${report.htmlUri}`);
  return {
    report,
    cells: outcomes
      .filter((o) => o.train)
      .map((o) => ({
        id: o.cell.id,
        arm: o.cell.arm,
        fraction: o.cell.fraction,
        seed: o.cell.seed,
        k: o.eval.k,
        n: o.eval.n,
      })),
    controls: controls.map((c) => ({ id: `${c.arm}-s${c.seed}`, arm: c.arm, seed: c.seed, k: c.eval.k, n: c.eval.n })),
    corpusHash: corpus.hash,
    specHash: loaded.spec.hash,
  };
}
