import { describe, expect, it } from 'vitest';
import { parseExperiment, type ExperimentInput } from '../../src/config/experiment-schema';
import { assertWithinBudget, BudgetRefusedError, planCost, type CostInputs, type StagePlan } from '../../src/plan/cost';
import { ASSUMED_PRICE_MODEL, priceRowOf, resolvePrice } from '../../src/plan/prices';
import { estimateTokensPerSecond, gpuOf, throughputOf } from '../../src/plan/throughput';
import { KNOWN_MODELS, paramCount } from '../../src/plan/models';
import { demoExperiment } from '../helpers/demo-experiment';

const params8b = paramCount(KNOWN_MODELS['llama-3.1-8b']);
const paramsOf = (k: string) => (KNOWN_MODELS[k] ? paramCount(KNOWN_MODELS[k]) : undefined);

/** Inputs with round numbers, so every figure below can be worked out by hand. */
const inputs = (over: Partial<CostInputs> = {}): CostInputs => ({
  model: { key: 'llama-3.1-8b', params: params8b },
  paramsOf,
  specTokens: 1000,
  specRules: 5,
  evalLines: 10,
  meanPromptTokens: 500,
  calibrationItems: 100,
  aftExamples: 1000,
  aftRowTokens: { data: 400 },
  generateBatch: 32,
  llmSlots: 8,
  ...over,
});

const priced = { inputPerMillion: 2, outputPerMillion: 10 };
const experiment = (over: Partial<ExperimentInput> = {}) =>
  parseExperiment({
    ...demoExperiment('cost'),
    baseModel: { name: 'Llama-3.1-8B', tokenizer: 'llama3.1', init: 'pretrained', path: '/models/Meta-Llama-3.1-8B' },
    generation: {
      provider: { kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1', model: 'gen', price: priced },
      domains: 2,
      typesPerUnit: 2,
      ideasPerType: 5,
      maxDocTokens: 1000,
      concurrency: 4,
    },
    aft: {
      data: 'experiments/data/demo-aft.jsonl',
      minSteps: 1,
      arms: ['baseline', 'msm', 'msm-only'],
      fractions: [1, 0.5],
      seeds: [0, 1],
    },
    eval: {
      prompts: 'experiments/data/demo-eval.jsonl',
      samplesPerPrompt: 4,
      maxNewTokens: 100,
      judge: { kind: 'anthropic', model: 'claude-haiku-4-5' },
      judgeConcurrency: 4,
    },
    compute: { backend: 'local', device: 'cuda', gpus: 1, gpuMemoryGiB: 139.8 },
    ...over,
  } as ExperimentInput);

const stage = (stages: StagePlan[], name: StagePlan['stage']) => {
  const s = stages.find((x) => x.stage === name);
  if (!s) throw new Error(`no ${name} stage`);
  return s;
};

describe('cost plan: counts → tokens → dollars', () => {
  const plan = planCost(experiment(), inputs());

  it('corpus: units × types × ideas documents, priced at the experiment’s own price', () => {
    // 2 domains × 3 subdomains = 6 units; × 2 types × 5 ideas = 60 documents.
    expect(plan.counts.documents).toBe(60);
    expect(plan.counts.corpusTokens).toBe(40_800);
    const c = stage(plan.stages, 'corpus');
    const planning = 1 + 6 * 2 + 6 * 2; // domains, assertions + types per unit, ideas per type
    expect(c.calls).toBe(planning + 60);
    const input = (planning + 60) * 1400; // spec 1000 + 400 of instructions each
    const output = planning * 600 + 60 * 750;
    expect(c.inputTokens).toBe(input);
    expect(c.outputTokens).toBe(output);
    expect(c.usd).toBeCloseTo((input * 2 + output * 10) / 1e6, 9);
    expect(c.basis[0]).toMatch(/gen: the experiment's price/);
  });

  it('generation.targetTokens sizes the corpus and midtraining: units from the target, not the domains', () => {
    const g = experiment().generation;
    // 100k tokens at 680 a document (0.68 × 1,000), 10 a unit: ceil(14.7) = 15 units, 150 documents.
    const sized = planCost(experiment({ generation: { ...g, targetTokens: 100_000 } }), inputs());
    expect(sized.counts.documents).toBe(150);
    expect(sized.counts.corpusTokens).toBe(102_000);
    expect(stage(sized.stages, 'midtraining').tokens).toBe(102_000);
    expect(stage(sized.stages, 'corpus').calls).toBe(1 + 15 * 2 + 15 * 2 + 150);
    expect(stage(sized.stages, 'corpus').basis.join('; ')).toMatch(
      /15 units × 2 types × 5 ideas = 150 documents \(units from generation\.targetTokens 100k; top-up rounds, when the corpus falls short, not counted\)/,
    );
  });

  it('judging: evaluated cells × prompts × samples, one judge call each, at the table price of the judge', () => {
    // baseline and msm × 2 fractions × 2 seeds = 8 trained cells, + msm-only once = 9.
    expect(plan.counts.trainedCells).toBe(8);
    expect(plan.counts.evalCells).toBe(9);
    expect(plan.counts.samplesPerCell).toBe(40);
    const j = stage(plan.stages, 'judging');
    expect(j.calls).toBe(360);
    const input = 360 * (600 + 500 + 0.6 * 100);
    expect(j.inputTokens).toBe(input);
    expect(j.usd).toBeCloseTo((input * 1 + 360 * 200 * 5) / 1e6, 9); // claude-haiku-4-5: $1 / $5
    expect(j.basis[0]).toMatch(/price table, claude-haiku-4-5 as of \d{4}-\d{2}/);
    expect(stage(plan.stages, 'judge calibration').calls).toBe(100);
  });

  it('GPU: midtraining = corpus tokens × epochs at the measured 8B LoRA row; AFT = rows × row tokens per cell', () => {
    const m = stage(plan.stages, 'midtraining');
    expect(m.tokens).toBe(60 * 680);
    expect(m.measured).toBe(true);
    expect(m.tokensPerSecond).toBe(11_928);
    expect(m.gpuHours).toBeCloseTo((40_800 / 11_928 + 30) / 3600, 9); // + one job start
    expect(m.usd).toBeCloseTo(m.gpuHours! * 3.5, 9); // H200's table rate: no price in the file
    // 2 arms × 2 seeds × (1000 + 500 rows) × 400 tokens × the trimmed micro-batch overhead.
    expect(stage(plan.stages, 'aft training').tokens).toBe(Math.round(2 * 2 * 1500 * 400 * 1.36));
    const s = stage(plan.stages, 'eval sampling');
    expect(s.measured).toBe(false);
    expect(s.tokens).toBe(360 * 100); // static batches decode to maxNewTokens
    const t = plan.total;
    expect(t.usd).toBeCloseTo(t.apiUsd + t.gpuUsd, 9);
    expect(t.gpuHours).toBeCloseTo(
      plan.stages.reduce((n, x) => n + (x.gpuHours ?? 0), 0),
      9,
    );
  });

  it('midtrain.seeds and placebo: a corpus and a midtraining per seed and start; midtrained arms’ cells once per seed', () => {
    const base = experiment();
    const seeds = (midtrain: Record<string, unknown>, arms = base.aft.arms) =>
      planCost(experiment({ midtrain, aft: { ...base.aft, arms } } as never), inputs());
    const three = seeds({ seeds: [0, 1, 2] });
    const one = (name: StagePlan['stage'], p = plan) => stage(p.stages, name);
    expect(one('midtraining', three).tokens).toBe(3 * one('midtraining').tokens!);
    expect(one('corpus', three).usd).toBeCloseTo(3 * one('corpus').usd, 6);
    // baseline 4 cells, msm 4 × 3, msm-only 1 × 3.
    expect(three.counts.trainedCells).toBe(4 + 12);
    expect(three.counts.evalCells).toBe(16 + 3);
    expect(one('aft training', three).tokens).toBe(2 * one('aft training').tokens!);
    // Shared draws: one corpus, three midtrainings.
    const shared = seeds({ seeds: [0, 1, 2], corpusDraws: 'shared' });
    expect(one('corpus', shared).usd).toBeCloseTo(one('corpus').usd, 6);
    expect(one('midtraining', shared).tokens).toBe(3 * one('midtraining').tokens!);
    // A placebo arm: its corpus and its midtraining are paid for too.
    const placebo = seeds({}, ['baseline', 'msm', 'placebo']);
    expect(one('midtraining', placebo).tokens).toBe(2 * one('midtraining').tokens!);
    expect(one('corpus', placebo).usd).toBeCloseTo(2 * one('corpus').usd, 6);
  });

  it('sampling on eval.engine’s server is not priced as msm’s GPUs; its wall clock is bounded by the trainer’s', () => {
    const base = experiment();
    const onServer = planCost(
      experiment({ eval: { ...base.eval, engine: { kind: 'openai', baseUrl: 'http://gpu-box:8000/v1' } } } as never),
      inputs(),
    );
    const own = stage(plan.stages, 'eval sampling');
    const served = stage(onServer.stages, 'eval sampling');
    expect(served).toMatchObject({ usd: 0, gpuHours: 0, tokens: own.tokens, wallHours: own.wallHours });
    expect(served.basis[0]).toMatch(/on eval.engine's server \(http:\/\/gpu-box:8000\/v1\): .*not priced/);
    expect(onServer.total.gpuUsd).toBeCloseTo(plan.total.gpuUsd - own.usd, 9);
  });

  it('wall clock: calls over the concurrency, or the provider’s rate limit when that is slower', () => {
    const fast = stage(plan.stages, 'judging').wallHours;
    const limited = planCost(
      experiment({
        eval: {
          prompts: 'experiments/data/demo-eval.jsonl',
          samplesPerPrompt: 4,
          maxNewTokens: 100,
          judge: { kind: 'anthropic', model: 'claude-haiku-4-5', limits: { requests: 6, perSeconds: 60 } },
          judgeConcurrency: 4,
        },
      }),
      inputs(),
    );
    const j = stage(limited.stages, 'judging');
    expect(j.wallHours).toBeCloseTo(360 / 6 / 60, 9); // 6 requests a minute
    expect(j.wallHours).toBeGreaterThan(fast);
    expect(j.basis.join(' ')).toMatch(/the requests limit \(6 per 60 s\)/);
  });

  it('batch generation takes the batch discount off the documents', () => {
    const batch = planCost(
      experiment({
        generation: {
          provider: {
            kind: 'openai',
            baseUrl: 'http://127.0.0.1:8000/v1',
            model: 'gen',
            price: { ...priced, batchDiscount: 0.5 },
          },
          domains: 2,
          typesPerUnit: 2,
          ideasPerType: 5,
          maxDocTokens: 1000,
          batch: true,
        },
      }),
      inputs(),
    );
    const docs = (60 * 1400 * 2 + 60 * 750 * 10) / 1e6;
    expect(stage(plan.stages, 'corpus').usd - stage(batch.stages, 'corpus').usd).toBeCloseTo(docs / 2, 9);
  });

  it('an unknown model shape leaves the GPU stages out and says so', () => {
    const p = planCost(experiment(), inputs({ model: undefined }));
    expect(p.stages.some((s) => s.kind === 'gpu')).toBe(false);
    expect(p.notes.join(' ')).toMatch(/model shape unknown/);
  });
});

describe('price table fallback', () => {
  it('the experiment’s price wins over the table', () => {
    const r = resolvePrice({ kind: 'anthropic', model: 'claude-sonnet-4-5', price: priced } as never);
    expect(r.price).toEqual(priced);
    expect(r.assumed).toBe(false);
  });

  it('a dated model id falls under its row; the longest prefix wins', () => {
    expect(priceRowOf('claude-sonnet-4-5-20250929')?.model).toBe('claude-sonnet-4-5');
    expect(priceRowOf('gpt-4o-mini-2024-07-18')?.model).toBe('gpt-4o-mini');
    expect(priceRowOf('openai/gpt-5-mini')?.model).toBe('gpt-5-mini');
    const r = resolvePrice({ kind: 'anthropic', model: 'claude-sonnet-4-5-20250929', apiKeyEnv: 'X', timeoutMs: 1 });
    expect(r.price).toMatchObject({ inputPerMillion: 3, outputPerMillion: 15, batchDiscount: 0.5 });
  });

  it('an endpoint of unknown price is planned at the assumed row and flagged, the local model is free', () => {
    const r = resolvePrice({ kind: 'openai', model: 'generator' });
    expect(r.assumed).toBe(true);
    expect(r.basis).toContain(ASSUMED_PRICE_MODEL);
    expect(r.basis).toMatch(/set its price/);
    expect(resolvePrice({ kind: 'local', contextSize: 4096 })).toEqual({ basis: 'local model: free', assumed: false });
  });
});

describe('throughput table', () => {
  const h200 = gpuOf({ device: 'cuda', gpuMemoryGiB: 139.8 }).row;
  it('uses a measured row, a same-size model’s, else an estimate labelled as such', () => {
    const qwen3 = paramCount(KNOWN_MODELS['qwen3-32b']);
    const measured = throughputOf(
      { model: 'qwen3-32b', params: qwen3, gpu: h200, method: 'lora', checkpointing: true },
      paramsOf,
    );
    expect(measured).toMatchObject({ tokensPerSecond: 2581, measured: true });
    expect(measured.basis).toMatch(/on qwen2.5-32b \(same size\)/);
    const est = throughputOf(
      { model: 'qwen3-32b', params: qwen3, gpu: h200, method: 'full', checkpointing: false },
      paramsOf,
    );
    expect(est.measured).toBe(false);
    expect(est.tokensPerSecond).toBeCloseTo((0.45 * 989e12) / (6 * qwen3), 6);
    expect(est.basis).toMatch(/^estimate/);
  });

  it('estimates decoding from memory bandwidth at small batches and compute at large ones', () => {
    const job = { model: 'x', params: 8e9, gpu: h200, method: 'generate' as const, checkpointing: false };
    const one = estimateTokensPerSecond({ ...job, batch: 1 }).tokensPerSecond;
    expect(one).toBeCloseTo(((4.8e12 * 1) / 16e9) * 0.3, 6);
    expect(estimateTokensPerSecond({ ...job, batch: 4 }).tokensPerSecond).toBeCloseTo(4 * one, 6);
    const huge = estimateTokensPerSecond({ ...job, batch: 10_000 }).tokensPerSecond;
    expect(huge).toBeCloseTo(((0.45 * 989e12) / 16e9) * 0.3, 6);
  });
});

describe('budget.totalUsd', () => {
  it('refuses a plan above it, naming each stage’s estimate and how to proceed', () => {
    const p = planCost(experiment({ budget: { totalUsd: 0.01 } }), inputs());
    expect(p.budgetUsd).toBe(0.01);
    expect(() => assertWithinBudget(p, 'x.yaml')).toThrow(BudgetRefusedError);
    try {
      assertWithinBudget(p, 'x.yaml');
    } catch (e) {
      const m = (e as Error).message;
      expect(m).toMatch(/^x\.yaml: the planned cost \$[\d.]+ exceeds budget\.totalUsd \$0\.01/);
      for (const s of ['corpus', 'judging', 'judge calibration', 'midtraining', 'aft training', 'eval sampling'])
        expect(m).toContain(`${s} $`);
      expect(m).toMatch(/Raise budget\.totalUsd, or shrink the design/);
    }
  });

  it('passes a plan within it, and no budget means no check', () => {
    const total = planCost(experiment(), inputs()).total.usd;
    expect(() =>
      assertWithinBudget(planCost(experiment({ budget: { totalUsd: total + 1 } }), inputs()), 'x'),
    ).not.toThrow();
    expect(() => assertWithinBudget(planCost(experiment(), inputs()), 'x')).not.toThrow();
  });

  it('is a positive number in the schema', () => {
    expect(() => experiment({ budget: { totalUsd: 0 } })).toThrow(/budget.totalUsd: a budget in USD, > 0/);
  });
});
