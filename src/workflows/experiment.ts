import { tokenizerLabel, tokenizerSpec } from '../config/tokenizer-spec';
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
import { hyperAt } from '../config/aft-steps';
import { fractionLabel, fractionSlug } from '../config/fractions';
import { worldOf, worldSize } from '../config/compute-shape';
import type { CellResult, ControlResult, ReportRequest, ReportResult } from '../report/types';
import type { LoadedExperiment } from '../config/loaded-experiment';
import type { CorpusManifestRef } from '../corpus/types';
import { withCorpusDraw, type ContaminationSummary } from '../eval/contamination';
import type { EvalRequest, EvalSummary } from '../eval/types';
import type { TrainRequest, TrainResult } from '../training/types';
import {
  CONTROL_SEED,
  isControl,
  needsMidtraining,
  needsPlacebo,
  resolveArms,
  startsFromMidtraining,
  trainingName,
  type Arm,
} from '../config/arms';
import {
  corpusDrawOf,
  midtrainHyper,
  midtrainLabel,
  midtrainSeeds,
  midtrainSuffix,
  placeboMatch,
} from '../config/midtrain';
import type { SearchAttributePair } from '@temporalio/common';
import { cpu } from './activity-proxies';
import { aftDataGeneration } from './aft-data';
import { runBounded } from './bounded';
import { corpusGeneration } from './corpus';
import { progressQuery, sampledSignal, type CellProgress, type ExperimentProgress, type Stage } from './definitions';
import { evaluationRun } from './evaluation';
import { capabilityCells, checkCapabilities } from './capabilities';
import type { CapabilityResult } from '../eval/capabilities/types';
import { reportRun } from './report';
import { handleRunControls } from './run-controls';
import { MSM_ARM, MSM_BASE_MODEL, MSM_FRACTION, MSM_SPEC, MSM_STAGE } from '../temporal/search-attribute-keys';
import { trainingRun } from './training';
import { CANCEL_ON_PARENT_CLOSE } from './machine-cleanup';
import { ComputeBudget } from './compute-budget';
import { JudgeAllowances } from './judge-allowances';

export interface ExperimentOutcome {
  report: ReportResult;
  cells: Array<{
    id: string;
    arm: string;
    fraction: number;
    seed: number;
    midtrainSeed?: number;
    k: number;
    n: number;
  }>;
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
  const run = new ExperimentRun();
  await run.enter('loading', 'validating the experiment and the spec');
  const loaded: LoadedExperiment = await cpu.loadExperiment(input);
  const s = run.loaded(loaded);
  // Placebo arms: a second corpus from the unrelated spec, generated beside the MSM one; midtrain.seeds: more draws.
  const [assembled, placeboCorpus, otherCorpora] = await Promise.all([
    run.corpus(s),
    s.placeboSpec ? run.placeboCorpus(s) : null,
    run.otherDraws(s),
  ]);
  const given = await run.aftData(s);
  // Before anything trains: the corpus and AFT data against the eval prompts (eval.decontaminate).
  const checked = patched('decontaminate') ? await run.decontaminate(s, assembled, given) : undefined;
  const corpus = checked?.corpus ?? assembled;
  const aft = checked?.aft ?? given;
  const tokens = await run.tokenize(s, corpus, aft.data);
  const placebo = placeboCorpus && (await run.placeboTokens(s, placeboCorpus, tokens.corpus.numTokens));
  const draws = await run.drawTokens(s, otherCorpora, aft, checked);
  const trainer = trainerSettings(s.x);
  const [midtrain, placeboMidtrain, others] = await Promise.all([
    needsMidtraining(s.arms) ? run.midtrain(s, trainer, tokens.corpus) : null,
    placebo ? run.midtrain(s, trainer, placebo.tokens, 'placebo') : null,
    run.otherMidtrainings(s, trainer, { corpus, tokens: tokens.corpus, ...(placebo && { placebo }) }, draws.byDraw),
  ]);
  const starts = startsBySeed({ msm: midtrain, placebo: placeboMidtrain }, others);
  const outcomes = await run.sweep(s, trainer, tokens, starts, aft.withReasoning);
  const { cells, controls } = splitOutcomes(outcomes);
  // Only experiments with eval.capabilities schedule anything here.
  const capabilities = s.x.eval.capabilities?.length
    ? await run.capabilities(s, outcomes, tokens.aft.tokenizerUri)
    : undefined;
  await run.enter('report', 'writing results.json and the HTML report');
  const report = await run.report(s, {
    corpus,
    tokens: tokens.corpus,
    midtrain,
    cells,
    controls,
    aftData: aft.data,
    ...(capabilities && { capabilities }),
    ...(placebo && placeboMidtrain && { placebo: { ...placebo, midtrain: placeboMidtrain } }),
    ...(checked && { contamination: draws.contamination ?? checked.summary }),
    ...(others.length && { midtrains: others.map(midtrainRecord) }),
  });
  return {
    report,
    cells: outcomes
      .filter((o) => o.train)
      .map((o) => ({
        id: o.cell.id,
        arm: o.cell.arm,
        fraction: o.cell.fraction,
        seed: o.cell.seed,
        ...(o.cell.midtrainSeed !== undefined && { midtrainSeed: o.cell.midtrainSeed }),
        k: o.eval.k,
        n: o.eval.n,
      })),
    controls: outcomes
      .filter((o) => !o.train)
      .map((o) => ({ id: o.cell.id, arm: o.cell.arm, seed: o.cell.seed, k: o.eval.k, n: o.eval.n })),
    corpusHash: corpus.hash,
    specHash: loaded.spec.hash,
  };
}

/** What every stage after loading needs: the checked experiment, its arms and the search attributes. */
interface Loaded {
  loaded: LoadedExperiment;
  x: LoadedExperiment['experiment'];
  arms: Arm[];
  storeUri: string;
  common: SearchAttributePair[];
  /** Placebo arms only: the unrelated spec as stored (loadExperiment refuses placebo arms without one). */
  placeboSpec?: NonNullable<LoadedExperiment['placeboSpec']>;
}

/** The midtrained models arms start from (null: no arm starts there). */
type Starts = Record<'msm' | 'placebo', TrainResult | null>;
/** Per midtraining seed (midtrain.seeds; 0 alone by default), the models its arms start from. */
type StartsBySeed = ReadonlyMap<number, Starts>;
/** The model an arm starts from: a midtraining, or null for the base model. */
const startOf = (arm: Arm, starts: Starts | undefined): TrainResult | null =>
  startsFromMidtraining(arm) ? (starts?.[arm.start as keyof Starts] ?? null) : null;
/** The midtraining seed a cell's models come from: 0 unless midtrain.seeds lists more. */
const seedOfCell = (cell: CellProgress) => cell.midtrainSeed ?? 0;

/** A further corpus draw (midtrain.seeds, per-seed draws): the MSM corpus and the placebo's, as generated. */
interface DrawCorpora {
  corpus: CorpusManifestRef;
  placebo: CorpusManifestRef | null;
}
/** A corpus draw ready to train on: checked, tokenized, and its placebo matched to it. */
interface DrawTokens {
  corpus: CorpusManifestRef;
  tokens: TokenizedRef;
  placebo?: PlaceboTokens;
}
type PlaceboTokens = Omit<NonNullable<ReportRequest['placebo']>, 'midtrain'>;
/** A midtraining seed beyond 0: the draw it trained on and its runs (msm and, with placebo arms, placebo). */
interface OtherMidtraining extends DrawTokens {
  seed: number;
  draw: number;
  msm: TrainResult | null;
  placeboRun: TrainResult | null;
}

function startsBySeed(first: Starts, others: readonly OtherMidtraining[]): StartsBySeed {
  return new Map([[0, first], ...others.map((o): [number, Starts] => [o.seed, { msm: o.msm, placebo: o.placeboRun }])]);
}

/** The draws generated beside draw 0: those of the midtraining seeds other than 0 (none when draws are shared). */
const otherDrawsOf = (m: LoadedExperiment['experiment']['midtrain']): number[] => [
  ...new Set(
    midtrainSeeds(m)
      .map((seed) => corpusDrawOf(m, seed))
      .filter((d) => d !== 0),
  ),
];

/** What the report records of a further midtraining. */
function midtrainRecord(o: OtherMidtraining): NonNullable<ReportRequest['midtrains']>[number] {
  return {
    seed: o.seed,
    corpusDraw: o.draw,
    corpus: o.corpus,
    tokens: o.tokens,
    midtrain: o.msm,
    ...(o.placebo && o.placeboRun && { placebo: { ...o.placebo, midtrain: o.placeboRun } }),
  };
}

/** What every training run is told of the experiment. */
type TrainerSettings = TrainRequest['experiment'];

/** The W&B block (logging) rides along to the trainer when the experiment has one. */
function trainerSettings(x: Loaded['x']): TrainerSettings {
  return {
    baseModel: x.baseModel,
    compute: x.compute,
    ...(x.logging ? { logging: x.logging } : {}),
  };
}

/** Tokenized data as training runs take it (workflows do not import the tokenize stage). */
type TokenizedRef = TrainRequest['data'];
/** A stored chat JSONL file (AFT data, with or without reasoning). */
type FileRef = NonNullable<LoadedExperiment['aftData']>;
interface ExperimentTokens {
  corpus: TokenizedRef;
  aft: TokenizedRef;
  mix?: TrainRequest['mix'];
}
interface CellOutcome {
  cell: CellProgress;
  train: TrainResult | null;
  modelUri: string | null;
  /** An external arm's model (then modelUri is null). */
  externalModel?: string;
  eval: EvalSummary;
}

/** The stages of one experiment, in order, and the progress they report (the `progress` query). */
class ExperimentRun {
  readonly wfId = workflowInfo().workflowId;
  readonly progress: ExperimentProgress = { stage: 'loading', paused: false, cells: [], sweepConcurrency: 1 };
  /** The cost meter in the progress query: every finished training run's machines, summed. */
  private readonly runsCompute: ComputeUsage[] = [];
  /** compute.budgetUsd: set once the experiment is loaded. */
  budget?: ComputeBudget;
  /** eval.budgetUsd: the cells' judging shares it by allowances (set once the experiment is loaded with one). */
  private judging?: JudgeAllowances;
  /** Without eval.budgetUsd: the judge's spend on the cells judged so far (progress.judge), told to the next cell. */
  private get judgeSpentUsd(): number {
    return this.progress.judge?.costUsd ?? 0;
  }

  /** Per evaluation label, what gives its cell's sweep place back once its samples are written (sampledSignal). */
  private readonly releases = new Map<string, () => void>();

  constructor() {
    setHandler(progressQuery, () => this.progress);
    setHandler(sampledSignal, (label) => {
      this.releases.get(label)?.();
      this.releases.delete(label);
    });
    handleRunControls(this.progress, (n) => (this.progress.sweepConcurrency = n));
  }

  async enter(stage: Stage, details: string): Promise<void> {
    await condition(() => !this.progress.paused);
    this.progress.stage = stage;
    upsertSearchAttributes([{ key: MSM_STAGE, value: stage }]);
    setCurrentDetails(`**${stage}** — ${details}`);
  }

  /** A finished GPU run's machine cost (a training run or an evaluation), for the meter and compute.budgetUsd. */
  addCompute(r: { compute?: ComputeUsage }): void {
    if (!r.compute) return;
    this.runsCompute.push(r.compute);
    this.progress.compute = sumUsage(this.runsCompute);
  }

  loaded(loaded: LoadedExperiment): Loaded {
    const x = loaded.experiment;
    this.budget = new ComputeBudget(this.progress, x.compute.budgetUsd);
    if (x.eval.budgetUsd !== undefined) this.judging = new JudgeAllowances(this.progress, x.eval.budgetUsd);
    this.progress.spec = { title: loaded.spec.title, hash: loaded.spec.hash };
    this.progress.sweepConcurrency = x.aft.concurrency;
    const common = [
      { key: MSM_SPEC, value: loaded.spec.title },
      { key: MSM_BASE_MODEL, value: x.baseModel.name },
    ];
    upsertSearchAttributes(common);
    // Preset names ("baseline", "msm", ...) resolve to their arms.
    const arms = resolveArms(x.aft.arms);
    if (needsPlacebo(arms) && !loaded.placeboSpec)
      throw ApplicationFailure.nonRetryable(
        'a placebo arm needs the unrelated spec its corpus is generated from, and the loaded experiment has none: set midtrain.placeboSpec (e.g. specs/placebo.md) and run on a worker of this version',
        'BadInput',
      );
    return {
      loaded,
      x,
      arms,
      storeUri: loaded.storeUri,
      common,
      ...(needsPlacebo(arms) && { placeboSpec: loaded.placeboSpec }),
    };
  }

  async corpus(s: Loaded) {
    await this.enter('corpus', `generating documents about "${s.loaded.spec.title}"`);
    const corpus = await this.corpusChild(s, 'msm');
    this.progress.corpus = {
      documents: corpus.documents,
      truncated: corpus.truncated,
      truncatedDropped: corpus.truncatedDropped,
      duplicatesRemoved: corpus.duplicatesRemoved,
      hash: corpus.hash,
      ...(corpus.target && { target: corpus.target }),
    };
    return corpus;
  }

  /** The placebo corpus: the same generation settings as the MSM corpus, about the unrelated spec. */
  async placeboCorpus(s: Loaded): Promise<CorpusManifestRef> {
    const corpus = await this.corpusChild(s, 'placebo');
    this.progress.placebo = { ...this.progress.placebo, documents: corpus.documents };
    return corpus;
  }

  /**
   * A corpus child: the MSM corpus, or the placebo's (the unrelated spec, no identity). Draw 0 is the child and
   * job every earlier run started; another draw (midtrain.seeds) carries its number in both, so every item is
   * generated anew.
   */
  private corpusChild(
    { loaded, x, storeUri, common, placeboSpec }: Loaded,
    kind: 'msm' | 'placebo',
    draw = 0,
  ): Promise<CorpusManifestRef> {
    const msm = kind === 'msm';
    const spec = msm ? loaded.spec : placeboSpec!;
    const name = `${msm ? 'corpus' : 'placebo-corpus'}${draw ? `-draw${draw}` : ''}`;
    const about = msm ? 'MSM corpus' : `Placebo corpus (about "${spec.title}")`;
    return executeChild(corpusGeneration, {
      workflowId: `${this.wfId}.${name}`,
      args: [
        {
          storeUri,
          specKey: spec.key,
          specHash: spec.hash,
          generation: x.generation,
          // Only when set: a job without them is the one every earlier run sent.
          ...(msm && x.baseModel.identity && { identity: x.baseModel.identity }),
          ...(draw ? { draw } : {}),
        },
      ],
      typedSearchAttributes: common,
      staticSummary: `${about}${draw ? `, draw ${draw},` : ''} for ${x.name}`,
    });
  }

  /** The placebo corpus tokenized like the MSM corpus and cut at its token count (PlaceboMatch). */
  async placeboTokens(
    { x, storeUri, placeboSpec }: Loaded,
    corpus: CorpusManifestRef,
    target: number,
    draw = 0,
  ): Promise<PlaceboTokens> {
    const tokens = await cpu.tokenizeCorpus(storeUri, corpus, { ...corpusTokenOptions(x), maxTokens: target });
    const match = placeboMatch(target, tokens.numTokens);
    if (draw === 0) this.progress.placebo = { ...this.progress.placebo, match };
    return { spec: { hash: placeboSpec!.hash, title: placeboSpec!.title }, corpus, tokens, match };
  }

  /** midtrain.seeds with per-seed draws: every further draw's MSM corpus (and placebo corpus), generated at once. */
  async otherDraws(s: Loaded): Promise<Map<number, DrawCorpora>> {
    const made = await Promise.all(
      otherDrawsOf(s.x.midtrain).map(async (draw): Promise<[number, DrawCorpora]> => {
        const [corpus, placebo] = await Promise.all([
          this.corpusChild(s, 'msm', draw),
          s.placeboSpec ? this.corpusChild(s, 'placebo', draw) : null,
        ]);
        return [draw, { corpus, placebo }];
      }),
    );
    return new Map(made);
  }

  /**
   * The further draws made ready like draw 0: checked against the eval (their corpora counted apart in the
   * summary), tokenized, and their placebo corpora cut at their own token counts.
   */
  async drawTokens(
    s: Loaded,
    corpora: ReadonlyMap<number, DrawCorpora>,
    aft: { data: FileRef; withReasoning?: FileRef },
    checked: { summary: ContaminationSummary } | undefined,
  ): Promise<{ byDraw: Map<number, DrawTokens>; contamination?: ContaminationSummary }> {
    const byDraw = new Map<number, DrawTokens>();
    let contamination = checked?.summary;
    for (const [draw, made] of corpora) {
      let corpus = made.corpus;
      if (contamination) {
        const check = await this.decontaminate(s, corpus, aft);
        corpus = check.corpus;
        contamination = withCorpusDraw(contamination, check.summary, draw);
      }
      const tokens = await cpu.tokenizeCorpus(s.storeUri, corpus, corpusTokenOptions(s.x));
      const placebo = made.placebo ? await this.placeboTokens(s, made.placebo, tokens.numTokens, draw) : undefined;
      byDraw.set(draw, { corpus, tokens, ...(placebo && { placebo }) });
    }
    return { byDraw, ...(contamination && { contamination }) };
  }

  /**
   * aft.generate: the AFT data is made by a child from aft.generate.spec, else from the experiment's spec (also
   * when a run loaded before aftSpec existed replays). Else the experiment's own file.
   */
  async aftData({ loaded, x, storeUri, common }: Loaded): Promise<{ data: FileRef; withReasoning?: FileRef }> {
    const generate = x.aft.generate;
    if (generate) {
      const spec = loaded.aftSpec ?? loaded.spec;
      await this.enter(
        'aft-data',
        `generating ${generate.count} AFT examples (${generate.style} style) about "${spec.title}"`,
      );
      const gen = await executeChild(aftDataGeneration, {
        workflowId: `${this.wfId}.aft-data`,
        args: [
          {
            storeUri,
            specKey: spec.key,
            specHash: spec.hash,
            generate,
            ...(x.baseModel.identity && { identity: x.baseModel.identity }),
          },
        ],
        typedSearchAttributes: common,
        staticSummary: `AFT data for ${x.name}`,
      });
      const file = generate.train === 'with-reasoning' ? gen.withReasoning : gen.withoutReasoning;
      const c = gen.counts;
      this.progress.aftData = {
        examples: gen.examples,
        requested: c.requested,
        excludedByFilter: c.excludedByFilter,
        duplicates: c.duplicates,
        backfillRounds: c.backfillRounds,
        sha256: file.sha256,
      };
      return {
        data: { key: file.key, sha256: file.sha256, examples: gen.examples },
        withReasoning: { key: gen.withReasoning.key, sha256: gen.withReasoning.sha256, examples: gen.examples },
      };
    }
    if (!loaded.aftData)
      throw ApplicationFailure.nonRetryable(
        'aft: no AFT data; set aft.data (a chat JSONL file) or aft.generate',
        'BadInput',
      );
    return { data: loaded.aftData };
  }

  /**
   * The overlap check of the corpus and the AFT data (and the with-reasoning file, when arms train on it)
   * against the eval set and the calibration sets. drop hands back the files without the flagged items.
   */
  async decontaminate(
    { loaded, x, storeUri }: Loaded,
    corpus: CorpusManifestRef,
    aft: { data: FileRef; withReasoning?: FileRef },
  ): Promise<{
    corpus: CorpusManifestRef;
    aft: { data: FileRef; withReasoning?: FileRef };
    summary: ContaminationSummary;
  }> {
    setCurrentDetails(
      `**corpus** — checking the corpus and AFT data against the eval prompts (${x.eval.decontaminate})`,
    );
    const withReasoning = aft.withReasoning ?? loaded.reasoningData;
    return cpu.checkContamination(storeUri, {
      mode: x.eval.decontaminate,
      evalSet: loaded.evalSet,
      corpus,
      aft: { data: aft.data, ...(withReasoning && { withReasoning }) },
    });
  }

  async tokenize(
    { loaded, x, storeUri }: Loaded,
    corpus: CorpusManifestRef,
    aftData: FileRef,
  ): Promise<ExperimentTokens> {
    await this.enter(
      'tokenize',
      `${corpus.documents} documents with the ${tokenizerLabel(x.baseModel.tokenizer)} tokenizer`,
    );
    const family = tokenizerSpec(x.baseModel.tokenizer);
    const tokens = await cpu.tokenizeCorpus(storeUri, corpus, corpusTokenOptions(x));
    // AFT chats render as the eval renders prompts (eval.thinking); model-default leaves the template's own.
    const chat = { family, seqLen: x.aft.seqLen, ...thinkingOf(x) };
    const aft = await cpu.tokenizeAftData(storeUri, aftData, chat);
    // The instruction-tuning mix, tokenized exactly like the AFT data; every cell of every arm gets it.
    const mixTokens =
      x.aft.mix && loaded.mixData ? await cpu.tokenizeAftData(storeUri, loaded.mixData, chat) : undefined;
    this.progress.tokens = { sequences: tokens.numSequences, tokens: tokens.numTokens };
    return {
      corpus: tokens,
      aft,
      ...(mixTokens && x.aft.mix ? { mix: { data: mixTokens, ratio: x.aft.mix.ratio } } : {}),
    };
  }

  /**
   * Midtraining runs when any arm starts from it (start: msm); the placebo's, on its matched tokens, with
   * the same settings and seed when an arm starts from placebo.
   */
  async midtrain(
    { x, storeUri, common }: Loaded,
    trainer: TrainerSettings,
    tokens: ExperimentTokens['corpus'],
    corpus: 'msm' | 'placebo' = 'msm',
    seed = 0,
  ) {
    await this.enter('midtrain', `${tokens.numTokens} tokens on ${x.baseModel.name}`);
    const what = `${corpus === 'msm' ? 'midtraining' : 'placebo midtraining'}${seed ? ` (seed ${seed})` : ''}`;
    const overBudget = this.budget?.allowNewJob(what);
    if (overBudget) await overBudget;
    // The MSM run of seed 0 keeps the ids and label every earlier experiment used.
    const label = midtrainLabel(corpus, seed);
    const midtrain = await executeChild(trainingRun, {
      ...CANCEL_ON_PARENT_CLOSE,
      workflowId: `${this.wfId}.${label}`,
      args: [
        {
          kind: 'midtrain',
          storeUri,
          label,
          data: tokens,
          seed,
          experiment: trainer,
          hyper: midtrainHyper(x.midtrain),
        },
      ],
      typedSearchAttributes: common,
      staticSummary: `Midtraining ${x.baseModel.name} on the ${corpus === 'msm' ? 'MSM' : 'placebo'} corpus${seed ? `, seed ${seed}` : ''}`,
    });
    const done = {
      outputUri: midtrain.outputUri,
      finalLoss: midtrain.metrics.final_loss,
      resumedFromStep: midtrain.resumedFromStep,
      compute: midtrain.compute,
    };
    if (seed !== 0) {
      const record = { seed, corpusDraw: corpusDrawOf(x.midtrain, seed), outputUri: done.outputUri };
      const finalLoss = done.finalLoss === undefined ? {} : { finalLoss: done.finalLoss };
      this.progress.midtrains = [
        ...(this.progress.midtrains ?? []),
        { ...record, ...finalLoss, ...(corpus === 'placebo' && { placebo: true }) },
      ];
    } else if (corpus === 'msm') this.progress.midtrain = done;
    else this.progress.placebo = { ...this.progress.placebo, midtrain: done };
    this.addCompute(midtrain);
    return midtrain;
  }

  /**
   * midtrain.seeds beyond 0: each seed midtrains on its draw (its own, or draw 0 when draws are shared) with
   * its own seed; the placebo too, on its draw's matched tokens. All at once, beside seed 0's runs.
   */
  async otherMidtrainings(
    s: Loaded,
    trainer: TrainerSettings,
    first: DrawTokens,
    byDraw: ReadonlyMap<number, DrawTokens>,
  ): Promise<OtherMidtraining[]> {
    const seeds = midtrainSeeds(s.x.midtrain).filter((seed) => seed !== 0);
    return Promise.all(
      seeds.map(async (seed): Promise<OtherMidtraining> => {
        const draw = corpusDrawOf(s.x.midtrain, seed);
        const d = draw === 0 ? first : byDraw.get(draw)!;
        const [msm, placeboRun] = await Promise.all([
          needsMidtraining(s.arms) ? this.midtrain(s, trainer, d.tokens, 'msm', seed) : null,
          d.placebo ? this.midtrain(s, trainer, d.placebo.tokens, 'placebo', seed) : null,
        ]);
        return { ...d, seed, draw, msm, placeboRun };
      }),
    );
  }

  /** The AFT sweep: every cell trained (shared runs once) and evaluated, under the sweep's concurrency. */
  async sweep(
    s: Loaded,
    trainer: TrainerSettings,
    tokens: ExperimentTokens,
    starts: StartsBySeed,
    generatedReasoning: FileRef | undefined,
  ): Promise<CellOutcome[]> {
    const { loaded, x, arms, storeUri } = s;
    // Arms that train on spec-citing reasoning (deliberative) get the with-reasoning file, on the same
    // budget per fraction: the file has the same examples (generated together, or checked at load).
    const reasoningFile = arms.some((a) => a.aft === 'with-reasoning')
      ? (generatedReasoning ?? loaded.reasoningData)
      : undefined;
    const reasoningTokens = reasoningFile
      ? await cpu.tokenizeAftData(storeUri, reasoningFile, {
          family: tokenizerSpec(x.baseModel.tokenizer),
          seqLen: x.aft.seqLen,
          ...thinkingOf(x),
        })
      : undefined;
    const cells = sweepCells(arms, x.aft.fractions, x.aft.seeds, midtrainSeeds(x.midtrain));
    this.progress.cells = cells;
    const training = new CellTraining(this, s, {
      trainer,
      starts,
      mix: tokens.mix,
      dataOf: (arm) => (arm.aft === 'with-reasoning' ? reasoningTokens! : tokens.aft),
    });
    const armOf = new Map(arms.map((a) => [a.name, a]));
    const armList = arms.map((a) => a.name).join(', ');
    await this.enter(
      'aft-sweep',
      `${cells.length} cells: ${armList} × ${x.aft.fractions.map(fractionLabel).join(', ')} × seeds ${x.aft.seeds.join(', ')}${starts.size > 1 ? ` (midtrained arms × midtraining seeds ${[...starts.keys()].join(', ')})` : ''}`,
    );
    return runBounded(
      cells.length,
      () => this.progress.sweepConcurrency,
      () => !this.progress.paused,
      (i, release) =>
        this.cell(s, cells[i], armOf.get(cells[i].arm)!, training, {
          starts,
          tokenizerUri: tokens.aft.tokenizerUri,
          release,
        }),
    );
  }

  /** One cell: train it (controls do not), then evaluate the model it ends with. */
  private async cell(
    { loaded, x, storeUri, common }: Loaded,
    cell: CellProgress,
    arm: Arm,
    training: CellTraining,
    refs: { starts: StartsBySeed; tokenizerUri: string; release: () => void },
  ): Promise<CellOutcome> {
    const attrs: SearchAttributePair[] = [
      ...common,
      { key: MSM_ARM, value: cell.arm },
      { key: MSM_FRACTION, value: cell.fraction },
    ];
    let train: TrainResult | null = null;
    if (!isControl(arm)) {
      cell.status = 'training';
      train = await training.run(arm, cell, attrs);
      cell.compute = train.compute;
    }
    // A control evaluates the model it starts from: a midtrained one, or the base model (modelUri null).
    const modelUri = train ? train.outputUri : (startOf(arm, refs.starts.get(seedOfCell(cell)))?.outputUri ?? null);
    const from = cell.midtrainSeed === undefined ? '' : `, midtraining seed ${cell.midtrainSeed}`;
    const where = `${isControl(arm) ? 'no AFT' : `${fractionLabel(cell.fraction)}, seed ${cell.seed}`}${from}`;
    const overBudget = this.budget?.allowNewJob(`the evaluation of ${cell.id}`);
    if (overBudget) await overBudget;
    cell.status = 'evaluating';
    const req: EvalRequest = {
      storeUri,
      label: `eval-${cell.id}`,
      modelUri,
      tokenizerUri: refs.tokenizerUri,
      evalSet: loaded.evalSet,
      experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
      seed: cell.seed,
      // An external arm: the given model, loaded by the trainer as a PEFT adapter or whole weights.
      ...(arm.start === 'external' && arm.model && { externalModel: arm.model }),
      ...(this.judging ? this.judging.firstRound : this.judgeSpentUsd > 0 && { judgeSpentUsd: this.judgeSpentUsd }),
      ...(arm.systemPrompt === 'spec' ? { systemPrompt: { key: loaded.spec.key, sha256: loaded.spec.hash } } : {}),
      // Once sampled, the cell is only judged: its place in the sweep goes to the next cell's training.
      signalSampled: true,
    };
    this.releases.set(req.label, refs.release);
    const evaluated = await executeChild(evaluationRun, {
      ...CANCEL_ON_PARENT_CLOSE,
      workflowId: `${this.wfId}.eval-${cell.id}`,
      args: [req],
      typedSearchAttributes: attrs,
      staticSummary: `Evaluate ${cell.arm} at ${where}`,
    });
    this.releases.delete(req.label);
    this.addCompute(evaluated);
    // With eval.budgetUsd the judging goes on here, round by round, as the budget has room.
    const evalSummary = this.judging ? await this.judging.finish(cell.id, req, evaluated) : evaluated;
    const judged = evalSummary.judgeUsage;
    if (judged && !this.judging)
      this.progress.judge = {
        calls: (this.progress.judge?.calls ?? 0) + judged.calls,
        costUsd: this.judgeSpentUsd + judged.costUsd,
        budgetUsd: x.eval.budgetUsd ?? null,
      };
    cell.status = 'done';
    cell.rate = evalSummary.n ? evalSummary.k / evalSummary.n : undefined;
    const done = this.progress.cells.filter((c) => c.status === 'done').length;
    setCurrentDetails(`**aft-sweep** — ${done}/${this.progress.cells.length} cells done`);
    return { cell, train, modelUri, ...(arm.start === 'external' && { externalModel: arm.model }), eval: evalSummary };
  }

  /** eval.capabilities: each arm's checks, on the model of its largest fraction at its first seed. */
  async capabilities(s: Loaded, outcomes: CellOutcome[], tokenizerUri: string): Promise<CapabilityResult[]> {
    const checked = capabilityCells(s.arms, outcomes, s.x.aft.seeds[0]);
    const names = (s.x.eval.capabilities ?? []).map((c) => c.name).join(', ');
    await this.enter('capabilities', `${names} on ${checked.map((c) => c.cell.id).join(', ')}`);
    return checkCapabilities(
      {
        storeUri: s.storeUri,
        loaded: s.loaded,
        tokenizerUri,
        concurrency: () => this.progress.sweepConcurrency,
        canStart: () => !this.progress.paused,
        allowNewJob: (what) => this.budget?.allowNewJob(what),
        addCompute: (r) => this.addCompute(r),
      },
      checked,
    );
  }

  async report(
    { loaded, x, storeUri, arms, common }: Loaded,
    r: {
      corpus: CorpusManifestRef;
      tokens: ExperimentTokens['corpus'];
      midtrain: TrainResult | null;
      cells: CellResult[];
      controls: ControlResult[];
      aftData: FileRef;
      capabilities?: CapabilityResult[];
      placebo?: ReportRequest['placebo'];
      contamination?: ContaminationSummary;
      midtrains?: ReportRequest['midtrains'];
    },
  ): Promise<ReportResult> {
    const { experiment: _omit, ...loadedRefs } = loaded;
    const report = await executeChild(reportRun, {
      workflowId: `${this.wfId}.report`,
      args: [
        {
          storeUri,
          workflowId: this.wfId,
          loaded: {
            ...loadedRefs,
            aftData: r.aftData,
            name: x.name,
            baseModel: x.baseModel.name,
            ...(x.baseModel.identity && { identity: x.baseModel.identity }),
          },
          corpus: r.corpus,
          tokens: r.tokens,
          midtrain: r.midtrain,
          cells: r.cells,
          arms,
          ...(r.controls.length ? { controls: r.controls } : {}),
          ...(r.capabilities && { capabilities: r.capabilities }),
          ...(r.placebo && { placebo: r.placebo }),
          ...(r.midtrains && { midtrains: r.midtrains }),
          ...(r.contamination && { contamination: r.contamination }),
          judge: x.eval.judge,
          judgeAttempts: x.eval.judgeAttempts,
          claims: {
            minBalancedAccuracy: x.eval.calibration?.minBalancedAccuracy,
            // The same floor the up-front check of examples per fraction applied; the report's default is 16.
            minExamples: x.aft.minExamples,
            minSteps: x.aft.minSteps,
            maxFalsePositiveRate: x.eval.calibration?.maxFalsePositiveRate,
            maxFalseNegativeRate: x.eval.calibration?.maxFalseNegativeRate,
            maxTruncationGap: x.eval.maxTruncationGap,
          },
          evalSettings: {
            thinking: x.eval.thinking,
            ...(x.eval.conditions && { conditions: x.eval.conditions }),
            ...(x.eval.inspect && { inspectTask: x.eval.inspect.task }),
          },
          ...(x.analysis && { analysis: x.analysis }),
        },
      ],
      typedSearchAttributes: common,
    });
    this.progress.report = report;
    this.progress.stage = 'done';
    upsertSearchAttributes([{ key: MSM_STAGE, value: 'done' }]);
    setCurrentDetails(`**done** — report at ${report.htmlUri}`);
    return report;
  }
}

/** Arms that train the same model (same start, same data: spec-in-context and baseline) share one run. */
class CellTraining {
  private readonly runs = new Map<string, Promise<TrainResult>>();

  constructor(
    private readonly experiment: ExperimentRun,
    private readonly s: Loaded,
    private readonly inputs: {
      trainer: TrainerSettings;
      starts: StartsBySeed;
      mix?: TrainRequest['mix'];
      dataOf: (arm: Arm) => TokenizedRef;
    },
  ) {}

  run(arm: Arm, cell: CellProgress, attrs: SearchAttributePair[]): Promise<TrainResult> {
    const runId = `${trainingName(arm)}-${fractionSlug(cell.fraction)}-s${cell.seed}${midtrainSuffix(seedOfCell(cell))}`;
    let run = this.runs.get(runId);
    if (!run) {
      run = this.start(arm, cell, runId, attrs).then((r) => (this.experiment.addCompute(r), r));
      this.runs.set(runId, run);
    }
    return run;
  }

  /** A new run waits while the compute budget is spent; within it, it starts in the same step. */
  private start(arm: Arm, cell: CellProgress, runId: string, attrs: SearchAttributePair[]): Promise<TrainResult> {
    const overBudget = this.experiment.budget?.allowNewJob(`AFT run ${runId}`);
    return overBudget
      ? overBudget.then(() => this.startNow(arm, cell, runId, attrs))
      : this.startNow(arm, cell, runId, attrs);
  }

  private startNow(arm: Arm, cell: CellProgress, runId: string, attrs: SearchAttributePair[]): Promise<TrainResult> {
    const { x, storeUri } = this.s;
    const { starts, mix, trainer } = this.inputs;
    // msm and placebo arms continue their midtraining's adapter alike (the placebo isolates the spec's content).
    const midtrain = startOf(arm, starts.get(seedOfCell(cell)));
    const fromMsm = midtrain !== null;
    return executeChild(trainingRun, {
      ...CANCEL_ON_PARENT_CLOSE,
      workflowId: `${this.experiment.wfId}.aft-${runId}`,
      args: [
        {
          kind: 'aft',
          storeUri,
          label: `aft-${runId}`,
          data: this.inputs.dataOf(arm),
          fraction: cell.fraction,
          seed: cell.seed,
          initFrom: fromMsm ? { outputUri: midtrain!.outputUri } : undefined,
          ...(fromMsm && x.aft.continueAdapter === false ? { freshAdapter: true } : {}),
          ...(mix ? { mix } : {}),
          ...(x.aft.subsetBySeed ? { subsetBySeed: true } : {}),
          experiment: trainer,
          // A fraction may train at its own batch (aft.batchSizeByFraction) so it still takes aft.minSteps steps.
          hyper: hyperAt(x.aft, cell.fraction, worldSize(worldOf(x.compute))),
        },
      ],
      typedSearchAttributes: attrs,
      staticSummary: `AFT ${trainingName(arm)} at ${fractionLabel(cell.fraction)} of the data, seed ${cell.seed}${cell.midtrainSeed === undefined ? '' : `, midtraining seed ${cell.midtrainSeed}`}`,
    });
  }
}

/** eval.thinking for the AFT tokenizer, only when it is on or off (model-default keeps the activity's input as it was). */
const thinkingOf = (x: Loaded['x']) =>
  x.eval.thinking === 'on' || x.eval.thinking === 'off' ? { thinking: x.eval.thinking } : {};

/**
 * AFT arms: arms × fractions × seeds; controls (aft: none): one evaluation each, at CONTROL_SEED. With more
 * than one midtraining seed, every arm that starts from a midtraining has its cells once per seed (ids of
 * seeds other than 0 end in -m<seed>); base arms do not depend on it.
 */
function sweepCells(arms: Arm[], fractions: number[], seeds: number[], midtrain: number[]): CellProgress[] {
  const pending = 'pending' as const;
  const perSeed = (arm: Arm, base: Omit<CellProgress, 'status'>): CellProgress[] =>
    !startsFromMidtraining(arm) || midtrain.length === 1
      ? [{ ...base, status: pending }]
      : midtrain.map((m) => ({ ...base, id: `${base.id}${midtrainSuffix(m)}`, midtrainSeed: m, status: pending }));
  return arms.flatMap((arm) =>
    isControl(arm)
      ? perSeed(arm, { id: `${arm.name}-s${CONTROL_SEED}`, arm: arm.name, fraction: 0, seed: CONTROL_SEED })
      : fractions.flatMap((fraction) =>
          seeds.flatMap((seed) =>
            perSeed(arm, { id: `${arm.name}-${fractionSlug(fraction)}-s${seed}`, arm: arm.name, fraction, seed }),
          ),
        ),
  );
}

/** The options every corpus is tokenized with (the placebo's adds its cut). */
const corpusTokenOptions = (x: Loaded['x']) => ({
  family: tokenizerSpec(x.baseModel.tokenizer),
  seqLen: x.tokenization.seqLen,
  shuffleSeed: x.tokenization.shuffleSeed,
});

/** Trained cells for the report's curves; controls (no training) as their own rows. */
function splitOutcomes(outcomes: CellOutcome[]): { cells: CellResult[]; controls: ControlResult[] } {
  return {
    cells: outcomes.flatMap((o) =>
      o.train
        ? [
            {
              arm: o.cell.arm,
              fraction: o.cell.fraction,
              seed: o.cell.seed,
              ...midtrainSeedOf(o),
              train: o.train,
              eval: o.eval,
            },
          ]
        : [],
    ),
    controls: outcomes.flatMap((o) =>
      o.train ? [] : [{ arm: o.cell.arm, seed: o.cell.seed, ...midtrainSeedOf(o), modelUri: o.modelUri, eval: o.eval }],
    ),
  };
}

/** A cell's midtraining seed, only when midtrain.seeds lists more than one (else requests stay as they were). */
const midtrainSeedOf = (o: CellOutcome) =>
  o.cell.midtrainSeed === undefined ? {} : { midtrainSeed: o.cell.midtrainSeed };
