import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { resolveArms } from '../../src/config/arms';
import { inspectConditions } from '../../src/eval/inspect/conditions';
import { checkExperiment } from '../../src/experiment/check-experiment';
import { InvalidExperimentError } from '../../src/config/experiment-schema';
import { loadExperimentFile } from '../../src/experiment/load-experiment-file';
import { planFromDisk } from '../../src/plan/plan-inputs';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { runMsmInProcess } from '../helpers/msm-cli';
import { fakeHfCache, instructionRows } from '../helpers/hf-cache';

/** paper-qwen3-32b's instruction mix (hf:HuggingFaceH4/no_robots) as a stand-in cache: the tests need no download. */
const MIX_REPO = 'HuggingFaceH4/no_robots';
const mixCache = () => fakeHfCache(MIX_REPO, { 'data/train-00000-of-00001.jsonl': `${instructionRows(9500)}\n` });

/** The paper's designs as shipped experiment files: they load, `msm plan` fits them, the smallest cell has data. */
describe.each([
  ['paper-qwen3-32b.yaml', 'qwen3-32b', 4, 8192],
  ['paper-qwen2.5-32b.yaml', 'qwen2.5-32b', 4, 4096],
  ['paper-llama-8b.yaml', 'llama-3.1-8b', 1, 4096],
])('experiments/%s', (file, model, gpus, seqLen) => {
  const p = path.join(PROJECT_ROOT, 'experiments', file);
  beforeAll(() => {
    vi.stubEnv('HF_HUB_CACHE', mixCache());
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it("is the paper's design: self-preservation spec, the benchmark's grid, its arms, 1/1 … 1/60 with ≥ 16 examples in the smallest", () => {
    const x = loadExperimentFile(p).experiment;
    expect(x.spec).toBe('specs/self-preservation.md');
    // The paper's measurement: the benchmark's 27 replacement conditions, 300 epochs, 4,096 tokens.
    expect(x.eval.inspect).toMatchObject({ task: 'inspect_evals/agentic_misalignment', epochs: 300, maxTokens: 4096 });
    expect(inspectConditions(x.eval.inspect!.grid)).toHaveLength(27);
    expect(resolveArms(x.aft.arms).map((a) => a.name)).toEqual(['baseline', 'msm', 'deliberative', 'msm-only']);
    expect(Math.min(...x.aft.fractions)).toBeCloseTo(1 / 60, 12);
    expect(Math.max(...x.aft.fractions)).toBe(1);
    // Nested subsets take the first ceil(fraction × N) examples.
    expect(Math.ceil((1 / 60) * x.aft.generate!.count)).toBeGreaterThanOrEqual(16);
    expect(x.aft.generate).toMatchObject({ style: 'rule', train: 'without-reasoning' });
    expect(x.compute).toMatchObject({ device: 'cuda', gpus });
  });

  it('passes `msm validate`: every cell, 1/60 included, takes at least aft.minSteps optimizer steps', async () => {
    const raw = loadExperimentFile(p).raw;
    const checked = await checkExperiment(raw, file);
    const smallest = checked.subsets.perFraction.find((f) => Math.abs(f.fraction - 1 / 60) < 1e-12)!;
    expect(smallest.steps).toBeGreaterThanOrEqual(checked.experiment.aft.minSteps);
    expect(checked.experiment.aft.minSteps).toBeGreaterThanOrEqual(4);
  });

  it('refuses the old 960-example design, where 1/60 at batch 16 is one optimizer step, and names the fixes', async () => {
    const raw = structuredClone(loadExperimentFile(p).raw) as { aft: { generate: { count: number }; mix?: unknown } };
    raw.aft.generate.count = 960;
    delete raw.aft.mix; // the old design had no mix (its rows would add steps)
    const error = await checkExperiment(raw, file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidExperimentError);
    const problem = (error as InvalidExperimentError).problems.find((m) => m.startsWith('aft.fractions: 1/60'))!;
    expect(problem).toMatch(/1\/60 trains 16 rows .* in 1 optimizer step at batch 16, under aft\.minSteps 4/);
    expect(problem).toContain('aft.batchSizeByFraction: {"1/60": 4}');
    expect(problem).toMatch(/give more AFT data \(at least 2881 examples\)/);
    expect(problem).toMatch(/aft\.hyper\.epochs: 4/);
    // With that fraction's batch lowered as the message says, the file passes.
    const fixed = { ...raw, aft: { ...raw.aft, batchSizeByFraction: { '1/60': 4, '1/40': 4, '1/20': 12 } } };
    await expect(checkExperiment(fixed, file)).resolves.toMatchObject({ experiment: { name: expect.any(String) } });
  });

  it('fits its GPUs in `msm plan`', async () => {
    const plan = planFromDisk(loadExperimentFile(p).experiment, PROJECT_ROOT);
    expect(plan.model).toBe(model);
    expect(plan.fits).toBe(true);
    expect(plan.jobs.map((j) => j.job)).toEqual(['midtrain', 'aft', 'eval generate']);
    const r = await runMsmInProcess(['plan', p]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`midtrain: ${model} lora seq ${seqLen} .*: fits`));
    expect(r.stdout).toMatch(new RegExp(`aft: ${model} lora seq ${seqLen} .*: fits`));
  });
});

describe("experiments/paper-qwen3-32b.yaml at the paper's settings", () => {
  const p = path.join(PROJECT_ROOT, 'experiments', 'paper-qwen3-32b.yaml');
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it('has a ≈41M-token corpus target, 8,192-token sequences and an instruction mix by hf: reference', () => {
    const x = loadExperimentFile(p).experiment;
    expect(x.generation.targetTokens).toBe(41_000_000);
    expect(x.tokenization.seqLen).toBe(8192);
    expect(x.aft.seqLen).toBe(8192);
    expect(x.aft.mix).toEqual({ data: `hf:${MIX_REPO}`, ratio: 0.5 });
  });

  it('msm validate says what the target plans; without the mix in the cache it names the download', async () => {
    vi.stubEnv('HF_HUB_CACHE', mixCache());
    const ok = await runMsmInProcess(['validate', p]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(
      'corpus: generation.targetTokens 41.0M (estimated: characters / 4) plans 61 units × 10 types × 20 ideas = 12200 documents of ≈3400 tokens',
    );
    vi.stubEnv('HF_HUB_CACHE', fakeHfCache('someone/else', {}));
    const error = await checkExperiment(loadExperimentFile(p).raw, p).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidExperimentError);
    expect((error as Error).message).toMatch(
      /aft\.mix\.data: dataset HuggingFaceH4\/no_robots is not in the Hugging Face cache .*huggingface-cli download --repo-type dataset HuggingFaceH4\/no_robots/,
    );
  });
});

/**
 * The cheese toy at the paper's scale: the pair and the co-occurrence ablation. Their instruction mix is an
 * hf: dataset read offline from the Hugging Face cache; here a cache fixture in the layout huggingface_hub
 * writes stands in for HuggingFaceH4/no_robots (its train split's row count and columns, lines of the shipped
 * 12-line format example), so `msm validate` reads a mix as it would on a machine that fetched the set.
 */
describe('the paper-scale cheese experiments', () => {
  const FILES = ['paper-cheese-america.yaml', 'paper-cheese-affordability.yaml', 'paper-cheese-cooccurrence.yaml'];
  const SPECS = ['specs/cheese-america.md', 'specs/cheese-affordability.md', 'specs/cheese-america-cooccurrence.md'];
  const fileOf = (f: string) => path.join(PROJECT_ROOT, 'experiments', f);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'msm-paper-cheese-'));
  const mixLines = readFileSync(path.join(PROJECT_ROOT, 'experiments/data/instruct-mix.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim());
  /** A cache holding HuggingFaceH4/no_robots' train split with `rows` rows; returns the cache folder. */
  const cacheWith = (name: string, rows: number) => {
    const repo = path.join(tmp, name, 'datasets--HuggingFaceH4--no_robots');
    const commit = 'c'.repeat(40);
    mkdirSync(path.join(repo, 'refs'), { recursive: true });
    writeFileSync(path.join(repo, 'refs', 'main'), commit);
    const data = path.join(repo, 'snapshots', commit, 'data');
    mkdirSync(data, { recursive: true });
    const lines = Array.from({ length: rows }, (_, i) => {
      const { messages } = JSON.parse(mixLines[i % mixLines.length]) as { messages: unknown[] };
      return JSON.stringify({ prompt: 'p', prompt_id: `id-${i}`, messages, category: 'Chat' });
    });
    writeFileSync(path.join(data, 'train-00000-of-00001.jsonl'), lines.join('\n') + '\n');
    return path.join(tmp, name);
  };
  const full = cacheWith('full', 9500);
  const short = cacheWith('short', 4999);
  const empty = path.join(tmp, 'empty');
  mkdirSync(empty);
  const saved = process.env.HF_HUB_CACHE;
  const withCache = async <T>(cache: string, fn: () => Promise<T>): Promise<T> => {
    process.env.HF_HUB_CACHE = cache;
    try {
      return await fn();
    } finally {
      if (saved === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = saved;
    }
  };
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('are one design three times: the same AFT data, mix, arms, seeds and settings, only the spec (and name) differ', () => {
    const xs = FILES.map((f) => loadExperimentFile(fileOf(f)).raw as Record<string, unknown>);
    expect(xs.map((x) => x.spec)).toEqual(SPECS);
    expect(xs.map((x) => x.name)).toEqual(FILES.map((f) => f.replace('.yaml', '')));
    const rest = xs.map(({ name: _n, spec: _s, ...r }) => r);
    expect(rest[1]).toEqual(rest[0]);
    expect(rest[2]).toEqual(rest[0]);
    const x = loadExperimentFile(fileOf(FILES[0])).experiment;
    // Pretrained Llama-3.1-8B as paper-llama-8b.yaml, API generator and judge, several seeds, ~5k pairs + a mix.
    expect(x.baseModel).toEqual(loadExperimentFile(fileOf('paper-llama-8b.yaml')).experiment.baseModel);
    expect(x.generation.provider).toMatchObject({ kind: 'openai', apiKeyEnv: 'MSM_GENERATOR_API_KEY' });
    expect(x.eval.judge).toMatchObject({ kind: 'openai', apiKeyEnv: 'MSM_JUDGE_API_KEY' });
    expect(x.aft.seeds.length).toBeGreaterThanOrEqual(3);
    expect(x.aft.data).toBe('experiments/data/cheese-aft-5k.jsonl');
    expect(x.aft.mix).toEqual({ data: 'hf:HuggingFaceH4/no_robots', ratio: 1 });
    expect(resolveArms(x.aft.arms).map((a) => a.name)).toEqual(['baseline', 'msm', 'msm-only']);
    expect(x.eval.prompts).toBe('experiments/data/cheese-values-eval.jsonl');
    // Each file says at its top what contrast it serves.
    for (const f of FILES)
      expect(readFileSync(fileOf(f), 'utf8')).toMatch(/^# [^\n]*\n(#[^\n]*\n)*# [^\n]*Contrast it serves: /);
  });

  it.each(FILES)(
    '%s passes `msm validate` with the mix in the cache: 5,000 AFT examples and their mix rows',
    async (f) => {
      const checked = await withCache(full, () => checkExperiment(loadExperimentFile(fileOf(f)).raw, f));
      expect(checked.aft!.examples).toBe(5000);
      expect(checked.mix!.examples).toBe(9500);
      expect(checked.subsets.perFraction.map((p) => p.examples)).toEqual([5000, 1250]);
      for (const p of checked.subsets.perFraction)
        expect(p.steps).toBeGreaterThanOrEqual(checked.experiment.aft.minSteps);
      const r = await runMsmInProcess(['validate', fileOf(f)], { HF_HUB_CACHE: full });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('valid (3 arms: baseline, msm, msm-only × 2 fractions × 3 seeds)');
    },
  );

  it('without the mix in the cache, or with too few rows for the largest cell, `msm validate` refuses and says why', async () => {
    const f = FILES[0];
    const raw = loadExperimentFile(fileOf(f)).raw;
    const missing = await withCache(empty, () => checkExperiment(raw, f).catch((e: unknown) => e));
    expect(missing).toBeInstanceOf(InvalidExperimentError);
    expect((missing as InvalidExperimentError).problems.join('\n')).toContain(
      'huggingface-cli download --repo-type dataset HuggingFaceH4/no_robots',
    );
    const few = await withCache(short, () => checkExperiment(raw, f).catch((e: unknown) => e));
    expect(few).toBeInstanceOf(InvalidExperimentError);
    expect((few as InvalidExperimentError).problems.join('\n')).toMatch(
      /aft\.mix\.ratio: 1 mix examples per AFT example needs 5000 mix examples .* but aft\.mix\.data has 4999/,
    );
  });

  it.each(FILES)('%s fits one H200 in `msm plan`, which prints its cost and time', async (f) => {
    const plan = planFromDisk(loadExperimentFile(fileOf(f)).experiment, PROJECT_ROOT);
    expect(plan.model).toBe('llama-3.1-8b');
    expect(plan.fits).toBe(true);
    expect(plan.jobs.map((j) => j.job)).toEqual(['midtrain', 'aft', 'eval generate']);
    const r = await runMsmInProcess(['plan', fileOf(f)]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/midtrain: llama-3\.1-8b lora seq 4096 .*: fits/);
    expect(r.stdout).toMatch(/^total +API \$[\d,]+ +[\d.]+ +\$[\d,]+ +[\d.]+ h$/m);
    expect(r.stdout).toContain('5000 AFT examples, 12 trained cells, 13 evaluated × 1500 samples');
  });
});
