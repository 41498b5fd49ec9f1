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
