import type { Experiment, ProviderSettings } from '../config/experiment-schema';
import { isControl, resolveArms, type Arm } from '../config/arms';
import { aftSubsetSize, mixCount } from '../config/aft-mix';
import { batchAt } from '../config/aft-steps';
import { worldOf, worldSize } from '../config/compute-shape';
import { OVERSAMPLE, QUESTIONS_PER_CALL_MAX } from '../aft-data/round-plan';
import { usageOf } from '../cost/usage';
import { midtrainingRuns } from './midtraining-runs';
import { DOCUMENT_SHARE_OF_MAX, unitsForTarget } from '../config/corpus-size';
import { resolvePrice, GPU_RATE_NOTE } from './prices';
import { gpuOf, throughputOf, estimateTokensPerSecond, type Throughput } from './throughput';

/**
 * The study in hours and dollars before anything is paid: LLM calls, tokens and dollars of corpus
 * generation, AFT data generation, judging and judge calibration; GPU-hours and dollars of midtraining, AFT
 * and eval sampling; wall clock at the configured concurrency. Counts come from the experiment; token sizes
 * from ASSUMPTIONS (stated, printed with --json); prices from the file, else src/plan/prices.ts; rates from
 * src/plan/throughput.ts. Pure.
 */
export const ASSUMPTIONS = {
  /** The domains prompt asks for two to four subdomains per domain (assertions mode). */
  subdomainsPerDomain: 3,
  /** Corpus tokens per document, as a share of maxDocTokens: the paper's ≈41M tokens over 12,000 documents at 5,000. */
  documentShareOfMax: DOCUMENT_SHARE_OF_MAX,
  /** Output tokens of a document call (its scratchpad plan included), as a share of maxDocTokens. */
  documentOutputShareOfMax: 0.75,
  /** Prompt tokens beside the spec: unit, type, idea and instructions. */
  promptOverheadTokens: 400,
  /** Output of a planning call (assertions, types, ideas, domains, questions). */
  planningOutputTokens: 600,
  /** AFT data: answers written per example kept (the filter and dedup drop some). */
  answersPerExample: 1.1,
  /** AFT data: a response's tokens (reasoning included) as a share of maxResponseTokens. */
  responseShareOfMax: 0.5,
  /** AFT row tokens: the question and chat template. */
  questionTokens: 120,
  /** AFT training rows: an answer without its reasoning, as a share of the full response. */
  answerShareOfResponse: 0.4,
  /** Trimmed micro-batches run at their longest row: tokens processed over real tokens (BENCHMARKS.md aft-padding). */
  trimOverhead: 1.36,
  /** A judged response's length as a share of maxNewTokens. */
  responseShareOfMaxNew: 0.6,
  /** A judge prompt's instructions, and its verdict. */
  judgeInstructionTokens: 600,
  judgeOutputTokens: 200,
  /** A calibration item: its transcript and the judge's instructions. */
  calibrationInputTokens: 1800,
  /** Each GPU job's start: process, model load, tokenizer (the demo's CPU jobs: 20–30 s beyond their tokens). */
  jobStartupSeconds: 30,
  /** One LLM call's latency: a fixed part plus output tokens at this rate. */
  callFixedSeconds: 1,
  outputTokensPerSecond: 50,
} as const;

type A = typeof ASSUMPTIONS;

/** What the planner reads beside the experiment (src/experiment/cost-inputs.ts fills it from disk or a check). */
export interface CostInputs {
  /** The base model's table key (or name) and parameters; undefined: GPU stages cannot be sized. */
  model?: { key: string; params: number };
  /** Parameters of a model table key, for measured rows of same-size models. */
  paramsOf: (key: string) => number | undefined;
  specTokens: number;
  /** aft.generate.spec's tokens, when it names another spec than the midtraining one (absent: specTokens). */
  aftSpecTokens?: number;
  /** Rules of the spec (generation.mode rules makes one unit per domain and rule). */
  specRules: number;
  /** Eval lines (prompts, or an Inspect grid's conditions) and their mean prompt tokens. */
  evalLines: number;
  meanPromptTokens: number;
  /** Items of the calibration sets the judge is run on. */
  calibrationItems: number;
  /** AFT examples: aft.data's lines, or aft.generate.count. */
  aftExamples: number;
  /** Mean tokens of a training row of aft.data (and of aft.reasoningData), when read from the file. */
  aftRowTokens?: { data: number; withReasoning?: number };
  /** Sequences per generate batch (the memory plan's). */
  generateBatch?: number;
  /** LLM activities a worker runs at once (MSM_LLM_SLOTS). */
  llmSlots: number;
}

export interface StagePlan {
  stage: 'corpus' | 'aft data' | 'judging' | 'judge calibration' | 'midtraining' | 'aft training' | 'eval sampling';
  kind: 'llm' | 'gpu';
  /** LLM stages. */
  calls?: number;
  inputTokens?: number;
  outputTokens?: number;
  /** GPU stages: tokens processed, GPU-hours, the per-GPU rate and whether it was measured. */
  tokens?: number;
  gpuHours?: number;
  tokensPerSecond?: number;
  measured?: boolean;
  usd: number;
  wallHours: number;
  /** Where its price and rate come from, and what bounds its wall clock. */
  basis: string[];
}

export interface CostPlan {
  stages: StagePlan[];
  total: { apiUsd: number; gpuHours: number; gpuUsd: number; usd: number; wallHours: number };
  /** Counts the stages were sized from. */
  counts: {
    documents: number;
    corpusTokens: number;
    aftExamples: number;
    trainedCells: number;
    evalCells: number;
    samplesPerCell: number;
    judgedSamples: number;
  };
  /** The experiment's budget.totalUsd, when set. */
  budgetUsd?: number;
  assumptions: A;
  notes: string[];
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

/** Wall hours of `calls` LLM calls over `streams` at once, and the provider's rate limits when it sets any. */
function llmWall(
  calls: number,
  inputTokens: number,
  outputTokens: number,
  streams: number,
  p: ProviderSettings,
  basis: string[],
): number {
  const latency = calls * ASSUMPTIONS.callFixedSeconds + outputTokens / ASSUMPTIONS.outputTokensPerSecond;
  let seconds = latency / Math.max(1, streams);
  let bound = `${streams} calls at once`;
  const limits = p.kind === 'local' ? undefined : p.limits;
  if (limits) {
    for (const [name, used, allowed] of [
      ['requests', calls, limits.requests],
      ['input tokens', inputTokens, limits.inputTokens],
      ['output tokens', outputTokens, limits.outputTokens],
    ] as const) {
      if (allowed === undefined) continue;
      const s = (used / allowed) * limits.perSeconds;
      if (s > seconds) {
        seconds = s;
        bound = `the ${name} limit (${allowed} per ${limits.perSeconds} s)`;
      }
    }
  }
  basis.push(`wall clock bound by ${bound}`);
  return seconds / 3600;
}

function llmStage(
  stage: StagePlan['stage'],
  parts: Array<{ calls: number; input: number; output: number; batch?: boolean }>,
  provider: ProviderSettings,
  streams: number,
  extra: string[] = [],
): StagePlan {
  const resolved = resolvePrice(provider);
  let calls = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let usd = 0;
  for (const part of parts) {
    const u = usageOf(
      { inputTokens: part.calls * part.input, outputTokens: part.calls * part.output },
      resolved.price,
      { batch: part.batch },
    );
    calls += part.calls;
    inputTokens += u.inputTokens;
    outputTokens += u.outputTokens;
    usd += u.costUsd;
  }
  const basis = [resolved.basis, ...extra];
  // The local model answers one call at a time, whatever the concurrency.
  const wallHours = llmWall(calls, inputTokens, outputTokens, provider.kind === 'local' ? 1 : streams, provider, basis);
  return { stage, kind: 'llm', calls, inputTokens, outputTokens, usd, wallHours, basis };
}

/**
 * Corpus documents and their calls: units × typesPerUnit × ideasPerType, units from generation.targetTokens
 * when set, else from the domains (or rules); maxUnits caps both.
 */
function corpusCounts(g: Experiment['generation'], inputs: CostInputs) {
  const perDomain = g.mode === 'rules' ? Math.max(1, inputs.specRules) : ASSUMPTIONS.subdomainsPerDomain;
  const units = Math.min(g.maxUnits, unitsForTarget(g) ?? g.domains * perDomain);
  const documents = units * g.typesPerUnit * g.ideasPerType;
  // Domains once; per unit its assertions (assertions mode) and types; per type its ideas.
  const planningCalls = 1 + units * (g.mode === 'rules' ? 1 : 2) + units * g.typesPerUnit;
  return { units, documents, planningCalls };
}

/** Training tokens of one AFT row of an arm: from aft.data when read, else from the generate settings. */
function aftRowTokens(x: Experiment, arm: Arm, inputs: CostInputs): number {
  const reasoning = arm.aft === 'with-reasoning';
  const read = reasoning ? inputs.aftRowTokens?.withReasoning : inputs.aftRowTokens?.data;
  let tokens = read;
  if (tokens === undefined) {
    const response = ASSUMPTIONS.responseShareOfMax * (x.aft.generate?.maxResponseTokens ?? 1500);
    const withReasoning = reasoning || (!x.aft.data && x.aft.generate?.train === 'with-reasoning');
    tokens = ASSUMPTIONS.questionTokens + response * (withReasoning ? 1 : ASSUMPTIONS.answerShareOfResponse);
  }
  return Math.min(x.aft.seqLen, tokens * ASSUMPTIONS.trimOverhead);
}

/** Cells run side by side: every cell rents its own machines on RunPod and Slurm; one machine runs one at a time. */
function parallelCells(x: Experiment): number {
  const b = x.compute.backend;
  return b === 'runpod' || b === 'slurm' ? x.aft.concurrency : 1;
}

function gpuStage(
  stage: StagePlan['stage'],
  tokens: number,
  rate: Throughput,
  world: number,
  parallel: number,
  usdPerGpuHour: number,
  rateNote: string,
  jobs: number,
  extraHours = 0,
): StagePlan {
  // Every job also pays its start on each of its GPUs.
  const startup = (jobs * world * ASSUMPTIONS.jobStartupSeconds) / 3600;
  const gpuHours = tokens / rate.tokensPerSecond / 3600 + extraHours + startup;
  return {
    stage,
    kind: 'gpu',
    tokens: Math.round(tokens),
    gpuHours,
    tokensPerSecond: round(rate.tokensPerSecond, 1),
    measured: rate.measured,
    usd: gpuHours * usdPerGpuHour,
    // Linear scaling over a job's GPUs and over parallel cells: an optimistic wall clock.
    wallHours: gpuHours / world / parallel,
    basis: [`${rate.measured ? '' : 'not measured: '}${rate.basis}`, rateNote],
  };
}

/**
 * eval.engine openai: the cells are sampled on a server msm does not rent, so its GPU-hours and dollars are
 * not msm's to count; the HF job's hours stay as an upper bound on its wall clock (a serving engine is faster).
 */
function onEngineServer(st: StagePlan, baseUrl: string): StagePlan {
  return {
    ...st,
    gpuHours: 0,
    usd: 0,
    basis: [
      `on eval.engine's server (${baseUrl}): its GPUs are not rented by msm, so not priced here`,
      `wall clock at most the trainer's own sampling: ${st.basis.join('; ')}`,
    ],
  };
}

export function planCost(x: Experiment, inputs: CostInputs): CostPlan {
  const A = ASSUMPTIONS;
  const notes: string[] = [];
  const stages: StagePlan[] = [];
  const arms = resolveArms(x.aft.arms);
  const trained = arms.filter((a) => !isControl(a));
  const controls = arms.filter(isControl);
  // midtrain.seeds and placebo arms: more corpora, more midtrainings, and midtrained arms' cells once per seed.
  const mt = midtrainingRuns(x, arms);
  const cellsOf = (list: readonly Arm[], each: number) => list.reduce((n, a) => n + each * mt.cellsPerArm(a), 0);
  const trainedCells = cellsOf(trained, x.aft.fractions.length * x.aft.seeds.length);
  const evalCells = trainedCells + cellsOf(controls, 1);
  const llmStreams = (concurrency: number) => Math.min(concurrency, inputs.llmSlots);
  const midtrains = mt.runs > 0;

  // --- corpus (only when an arm starts from the midtrained model)
  const g = x.generation;
  const corpus = corpusCounts(g, inputs);
  const documents = midtrains ? corpus.documents : 0;
  const corpusTokens = documents * A.documentShareOfMax * g.maxDocTokens;
  if (midtrains) {
    const planIn = inputs.specTokens + A.promptOverheadTokens;
    stages.push(
      llmStage(
        'corpus',
        [
          { calls: corpus.planningCalls * mt.corpora, input: planIn, output: A.planningOutputTokens },
          {
            calls: documents * mt.corpora,
            input: planIn,
            output: A.documentOutputShareOfMax * g.maxDocTokens,
            batch: g.batch,
          },
        ],
        g.provider,
        llmStreams(g.concurrency),
        [
          `${corpus.units} units × ${g.typesPerUnit} types × ${g.ideasPerType} ideas = ${documents} documents` +
            (mt.corpora > 1 ? ` per corpus, × ${mt.corpora} corpora (placebo, midtrain.seeds draws)` : '') +
            (g.targetTokens !== undefined
              ? ` (units from generation.targetTokens ${big(g.targetTokens)}; top-up rounds, when the corpus falls short, not counted)`
              : '') +
            (g.batch ? ' (documents at the batch discount)' : ''),
        ],
      ),
    );
  }

  // --- AFT data (aft.generate)
  const ag = x.aft.generate;
  if (ag) {
    const questionCalls = Math.ceil((ag.count * OVERSAMPLE) / QUESTIONS_PER_CALL_MAX);
    const answers = Math.ceil(ag.count * A.answersPerExample);
    const response = A.responseShareOfMax * ag.maxResponseTokens;
    const specIn = (inputs.aftSpecTokens ?? inputs.specTokens) + A.promptOverheadTokens;
    stages.push(
      llmStage(
        'aft data',
        [
          { calls: 1 + questionCalls, input: specIn, output: A.planningOutputTokens },
          { calls: answers, input: specIn + A.questionTokens, output: response },
          ...(ag.filter ? [{ calls: answers, input: specIn + A.questionTokens + response, output: 150 }] : []),
        ],
        ag.provider,
        llmStreams(ag.concurrency),
        [
          `${ag.count} examples: ${questionCalls} question calls, ${answers} answers${ag.filter ? ' and as many filter calls' : ''}`,
        ],
      ),
    );
  }

  // --- judging: every sample of every evaluated cell, one judge call each
  const e = x.eval;
  const samplesPerCell = e.inspect ? inputs.evalLines * e.inspect.epochs : inputs.evalLines * e.samplesPerPrompt;
  const maxNew = e.inspect ? e.inspect.maxTokens : e.maxNewTokens;
  const judged = samplesPerCell * evalCells;
  const parallel = parallelCells(x);
  const judgeStreams = e.judgeConcurrency * Math.min(parallel, inputs.llmSlots);
  stages.push(
    llmStage(
      'judging',
      [
        {
          calls: judged,
          input: A.judgeInstructionTokens + inputs.meanPromptTokens + A.responseShareOfMaxNew * maxNew,
          output: A.judgeOutputTokens,
        },
      ],
      e.judge,
      judgeStreams,
      [`${evalCells} cells × ${samplesPerCell} samples = ${judged} judge calls`],
    ),
  );
  if (inputs.calibrationItems > 0)
    stages.push(
      llmStage(
        'judge calibration',
        [{ calls: inputs.calibrationItems, input: A.calibrationInputTokens, output: A.judgeOutputTokens }],
        e.judge,
        e.judgeConcurrency,
        [
          `${inputs.calibrationItems} items of the calibration sets (an upper bound: a judge that cannot pass stops early)`,
        ],
      ),
    );

  // --- GPU stages
  const apiStagesUsd = stages.reduce((n, s) => n + s.usd, 0);
  const gpu = gpuOf({
    device: x.compute.device,
    gpuType: 'gpuType' in x.compute ? x.compute.gpuType : undefined,
    gpuMemoryGiB: 'gpuMemoryGiB' in x.compute ? x.compute.gpuMemoryGiB : undefined,
  });
  if (gpu.assumed) notes.push('GPU type unknown: planned as an H100 (set compute.gpuType or gpuMemoryGiB)');
  const setRate =
    'pricePerHour' in x.compute && typeof x.compute.pricePerHour === 'number'
      ? x.compute.pricePerHour
      : 'pricePerGpuHour' in x.compute && typeof x.compute.pricePerGpuHour === 'number'
        ? x.compute.pricePerGpuHour
        : undefined;
  const usdPerGpuHour = setRate ?? gpu.row.usdPerHour;
  const unit = gpu.row.gpu === 'cpu' ? 'CPU' : gpu.row.gpu;
  const rateNote =
    gpu.row.gpu === 'cpu'
      ? 'CPU: no GPU cost'
      : setRate !== undefined
        ? `${unit} at $${setRate}/GPU-hour (the experiment's)`
        : `${unit} at $${usdPerGpuHour}/GPU-hour, ${GPU_RATE_NOTE}`;
  const world = worldSize(worldOf(x.compute));
  const m = inputs.model;
  if (!m) notes.push('model shape unknown: GPU stages not sized (copy its config.json to baseModel.path)');
  else {
    const rateFor = (method: 'lora' | 'full' | 'generate', checkpointing: boolean | number, batch?: number) =>
      throughputOf(
        { model: m.key, params: m.params, gpu: gpu.row, method, checkpointing: checkpointing === true, batch },
        inputs.paramsOf,
      );
    if (midtrains) {
      const h = x.midtrain;
      stages.push(
        gpuStage(
          'midtraining',
          corpusTokens * h.epochs * mt.runs,
          rateFor(h.method, h.gradientCheckpointing),
          world,
          1,
          usdPerGpuHour,
          rateNote,
          mt.runs,
        ),
      );
    }
    const h = x.aft.hyper;
    let aftTokens = 0;
    for (const arm of trained)
      for (const f of x.aft.fractions) {
        const k = aftSubsetSize(inputs.aftExamples, f);
        const rows = k + (x.aft.mix ? mixCount(k, x.aft.mix.ratio) : 0);
        const epochRows = rows * h.epochs;
        const capped = h.maxSteps > 0 ? Math.min(epochRows, h.maxSteps * batchAt(x.aft, f)) : epochRows;
        aftTokens += capped * aftRowTokens(x, arm, inputs) * x.aft.seeds.length * mt.cellsPerArm(arm);
      }
    if (trainedCells > 0)
      stages.push(
        gpuStage(
          'aft training',
          aftTokens,
          rateFor(h.method, h.gradientCheckpointing),
          world,
          parallel,
          usdPerGpuHour,
          rateNote,
          trainedCells,
        ),
      );
    // Sampling: static batches decode to maxNewTokens; the prompt's prefill at the forward-only rate.
    const decode = rateFor('generate', false, inputs.generateBatch);
    const prefill = estimateTokensPerSecond({
      model: m.key,
      params: m.params,
      gpu: gpu.row,
      method: 'full',
      checkpointing: false,
    });
    const capabilitySamples = (e.capabilities ?? []).reduce((n, c) => n + c.limit * c.maxTokens, 0) * arms.length;
    const decodeTokens = judged * maxNew + capabilitySamples;
    // Forward only is a third of full training's 6N.
    const prefillHours = (judged * inputs.meanPromptTokens) / (prefill.tokensPerSecond * 3) / 3600;
    const sampling = gpuStage(
      'eval sampling',
      decodeTokens,
      decode,
      1,
      parallel,
      usdPerGpuHour,
      rateNote,
      evalCells + (e.capabilities?.length ? arms.length : 0),
      prefillHours,
    );
    stages.push(e.engine?.kind === 'openai' ? onEngineServer(sampling, e.engine.baseUrl) : sampling);
  }

  const byName = (s: StagePlan['stage']) => stages.find((x) => x.stage === s)?.wallHours ?? 0;
  // AFT data runs beside corpus + midtraining; judging beside the sweep; calibration after.
  const wallHours =
    Math.max(byName('corpus') + byName('midtraining'), byName('aft data')) +
    Math.max(byName('aft training') + byName('eval sampling'), byName('judging')) +
    byName('judge calibration');
  const gpuStages = stages.filter((s) => s.kind === 'gpu');
  const gpuUsd = gpuStages.reduce((n, s) => n + s.usd, 0);
  const gpuHours = gpuStages.reduce((n, s) => n + (s.gpuHours ?? 0), 0);
  if (inputs.llmSlots < Math.max(g.concurrency, ag?.concurrency ?? 0))
    notes.push(
      `LLM calls at once capped at ${inputs.llmSlots} per worker (MSM_LLM_SLOTS): more workers or a higher MSM_LLM_SLOTS shorten the LLM stages`,
    );
  notes.push(
    'wall clock: AFT data beside corpus + midtraining, judging beside the sweep, calibration after; GPU jobs scale linearly',
  );
  return {
    stages,
    total: { apiUsd: apiStagesUsd, gpuHours, gpuUsd, usd: apiStagesUsd + gpuUsd, wallHours },
    counts: {
      documents,
      corpusTokens: Math.round(corpusTokens),
      aftExamples: inputs.aftExamples,
      trainedCells,
      evalCells,
      samplesPerCell,
      judgedSamples: judged,
    },
    ...(x.budget?.totalUsd !== undefined ? { budgetUsd: x.budget.totalUsd } : {}),
    assumptions: ASSUMPTIONS,
    notes,
  };
}

const usd = (n: number) => (n >= 100 ? `$${Math.round(n).toLocaleString('en-US')}` : `$${n.toFixed(2)}`);
const big = (n: number) =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(2)}B`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(1)}M`
      : n >= 1e4
        ? `${(n / 1e3).toFixed(0)}k`
        : `${Math.round(n)}`;
export const hours = (h: number) =>
  h >= 48 ? `${(h / 24).toFixed(1)} d` : h >= 1 ? `${h.toFixed(1)} h` : `${Math.max(1, Math.round(h * 60))} min`;

/** The cost plan as a table: one row per stage, then the total and what the figures rest on. */
export function formatCostPlan(p: CostPlan): string {
  const rows = [['stage', 'LLM calls', 'tokens in / out', 'GPU tokens', 'GPU-hours', 'tok/s/GPU', 'USD', 'wall clock']];
  for (const s of p.stages)
    rows.push(
      s.kind === 'llm'
        ? [
            s.stage,
            big(s.calls!),
            `${big(s.inputTokens!)} / ${big(s.outputTokens!)}`,
            '',
            '',
            '',
            usd(s.usd),
            hours(s.wallHours),
          ]
        : [
            s.stage,
            '',
            '',
            big(s.tokens!),
            s.gpuHours!.toFixed(1),
            `${big(s.tokensPerSecond!)}${s.measured ? '' : '*'}`,
            usd(s.usd),
            hours(s.wallHours),
          ],
    );
  const t = p.total;
  rows.push(['total', '', `API ${usd(t.apiUsd)}`, '', t.gpuHours.toFixed(1), '', usd(t.usd), hours(t.wallHours)]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = ['', 'cost and time (msm plan; estimates, assumptions in --json):', line(rows[0])];
  out.push(...rows.slice(1, -1).map(line), line(rows[rows.length - 1]));
  out.push(
    `  GPU-hours ${t.gpuHours.toFixed(1)} ($${Math.round(t.gpuUsd).toLocaleString('en-US')}), API dollars ${usd(t.apiUsd)}, wall clock ${hours(t.wallHours)}` +
      (p.budgetUsd !== undefined ? `; budget.totalUsd ${usd(p.budgetUsd)}${t.usd > p.budgetUsd ? ': OVER' : ''}` : ''),
  );
  out.push(
    `  counts: ${p.counts.documents} documents (${big(p.counts.corpusTokens)} corpus tokens), ${p.counts.aftExamples} AFT examples, ` +
      `${p.counts.trainedCells} trained cells, ${p.counts.evalCells} evaluated × ${p.counts.samplesPerCell} samples = ${p.counts.judgedSamples} judged`,
  );
  for (const s of p.stages) out.push(`  ${s.stage}: ${s.basis.join('; ')}`);
  if (p.stages.some((s) => s.measured === false))
    out.push('  * tok/s estimated from FLOPs or bandwidth, not measured (src/plan/throughput.ts)');
  for (const n of p.notes) out.push(`  note: ${n}`);
  return out.join('\n');
}

/** A start whose planned total exceeds budget.totalUsd: refused before anything is paid. */
export class BudgetRefusedError extends Error {
  constructor(
    readonly plan: CostPlan,
    source: string,
  ) {
    const budget = plan.budgetUsd ?? 0;
    const stages = plan.stages.map((s) => `${s.stage} ${usd(s.usd)}`).join(', ');
    super(
      `${source}: the planned cost ${usd(plan.total.usd)} exceeds budget.totalUsd ${usd(budget)} ` +
        `(API ${usd(plan.total.apiUsd)}, GPU ${usd(plan.total.gpuUsd)}: ${stages}). ` +
        'Raise budget.totalUsd, or shrink the design (fewer seeds, fractions or arms; fewer eval samples or epochs; ' +
        'a smaller corpus); `msm plan` shows each stage and what it rests on.',
    );
    this.name = 'BudgetRefusedError';
  }
}

/** Throws BudgetRefusedError when the experiment sets budget.totalUsd and the plan's total is above it. */
export function assertWithinBudget(plan: CostPlan, source: string): void {
  if (plan.budgetUsd !== undefined && plan.total.usd > plan.budgetUsd) throw new BudgetRefusedError(plan, source);
}
