import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { midtrainHyper } from '../../src/config/midtrain';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { recordingBackend } from '../helpers/recording-backend';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { TrainRequest, TrainResult } from '../../src/activities/types';
import { parseExperiment, type Experiment } from '../../src/config/experiment-schema';
import { loadExperimentFile } from '../../src/experiment/load-experiment-file';
import { gpuMemoryGiB, worldOf } from '../../src/config/compute-shape';
import { checkpointedLayerCount, GIB, samplePeak, trainPeak, type TrainJobShape } from '../../src/plan/memory';
import { KNOWN_MODELS, knownModelKey, paramCount } from '../../src/plan/models';
import { applyPlan, assertFits, formatPlan, PlanRefusedError } from '../../src/plan/plan';
import { ModelConfigError, planFromDisk, resolveModel } from '../../src/plan/plan-inputs';
import { demoExperiment } from '../helpers/demo-experiment';
import { runMsmInProcess } from '../helpers/msm-cli';

const ROOT = path.join(__dirname, '..', '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msm-plan-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const minimal = demoExperiment('p');
const H100 = { backend: 'local', device: 'cuda', gpuMemoryGiB: 79.2 } as const;
/** Llama 3.1 8B, full fine-tuning, seq 4096, on one 80 GB GPU: the paper's 8B setting without sharding. */
const llamaFull = {
  ...minimal,
  baseModel: {
    name: 'Llama-3.1-8B',
    tokenizer: 'llama3.1',
    init: 'pretrained',
    path: '/nonexistent/Meta-Llama-3.1-8B',
  },
  tokenization: { seqLen: 4096 },
  midtrain: { method: 'full', batchSize: 8, gradientCheckpointing: true },
  aft: { ...minimal.aft, seqLen: 4096, hyper: { method: 'full', batchSize: 8, gradientCheckpointing: true } },
  compute: { ...H100, gpus: 1 },
};

const shape = (over: Partial<TrainJobShape> = {}): TrainJobShape => ({
  model: KNOWN_MODELS['qwen3-32b'],
  method: 'lora',
  loraR: 64,
  seqLen: 4096,
  microBatch: 1,
  checkpointing: true,
  world: 1,
  ...over,
});

describe('model shapes', () => {
  it("counts the parameters of the paper's models within 1 % of their published sizes", () => {
    const published: Record<string, number> = {
      'llama-3.1-8b': 8.03e9,
      'qwen2.5-32b': 32.8e9,
      'qwen3-32b': 32.8e9,
      'qwen2.5-7b': 7.62e9,
      'gemma3-270m': 0.268e9,
    };
    for (const [name, n] of Object.entries(published))
      expect(Math.abs(paramCount(KNOWN_MODELS[name]) / n - 1), name).toBeLessThan(0.01);
  });

  it('finds a known model by name, path or hf id, whatever the separators; a different size is not it', () => {
    expect(knownModelKey('Meta-Llama-3.1-8B-Instruct')).toBe('llama-3.1-8b');
    expect(knownModelKey('hf:Qwen/Qwen3-32B')).toBe('qwen3-32b');
    expect(knownModelKey('/models/Qwen2.5-7B-Instruct/')).toBe('qwen2.5-7b');
    expect(knownModelKey('gemma-3-270m-it')).toBe('gemma3-270m');
    expect(knownModelKey('Qwen2.5-72B')).toBeUndefined();
    expect(knownModelKey('tiny-random-llama')).toBeUndefined();
  });

  it('reads a local config.json (Gemma 3 nests it under text_config) and names a missing field', () => {
    const dir = (name: string, config: unknown) => {
      const d = path.join(tmp, name);
      mkdirSync(d, { recursive: true });
      writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
      return d;
    };
    const qwen3 = {
      model_type: 'qwen3',
      hidden_size: 5120,
      num_hidden_layers: 64,
      num_attention_heads: 64,
      num_key_value_heads: 8,
      head_dim: 128,
      intermediate_size: 25600,
      vocab_size: 151936,
      tie_word_embeddings: false,
    };
    const base = { name: 'mine', tokenizer: 'qwen3', init: 'pretrained' } as const;
    const got = resolveModel({ ...base, path: dir('my-model', qwen3) } as Experiment['baseModel'], tmp);
    expect(got).toMatchObject({ shape: KNOWN_MODELS['qwen3-32b'], label: 'mine' });
    const gemma = {
      model_type: 'gemma3',
      text_config: {
        model_type: 'gemma3_text',
        hidden_size: 640,
        num_hidden_layers: 18,
        num_attention_heads: 4,
        num_key_value_heads: 1,
        head_dim: 256,
        intermediate_size: 2048,
        vocab_size: 262144,
      },
    };
    const g = resolveModel({ ...base, path: dir('g', gemma) } as Experiment['baseModel'], tmp);
    expect('shape' in g && paramCount(g.shape)).toBe(paramCount(KNOWN_MODELS['gemma3-270m']));
    const broken = { ...qwen3, hidden_size: undefined };
    expect(() => resolveModel({ ...base, path: dir('broken', broken) } as Experiment['baseModel'], tmp)).toThrow(
      ModelConfigError,
    );
    expect(() => resolveModel({ ...base, path: dir('broken', broken) } as Experiment['baseModel'], tmp)).toThrow(
      /"hidden_size" missing/,
    );
  });

  it('a pretrained model it cannot size is planned without a check, not refused', () => {
    const x = parseExperiment({
      ...minimal,
      baseModel: { name: 'Mystery-13B', init: 'pretrained', path: '/nowhere/mystery' },
      compute: H100,
    });
    const plan = planFromDisk(x, ROOT);
    expect(plan.fits).toBe(true);
    expect(plan.jobs.map((j) => j.verdict)).toEqual(['shape unknown', 'shape unknown', 'shape unknown']);
    expect(plan.jobs[0].line).toMatch(/copy the model's config.json/);
  });
});

describe('memory estimates', () => {
  it('shrink with more GPUs, with checkpointing and with a smaller micro-batch', () => {
    for (const method of ['lora', 'full'] as const) {
      const perGpu = [1, 2, 4, 8].map((world) => trainPeak(shape({ method, world })).total);
      for (let i = 1; i < perGpu.length; i++) expect(perGpu[i]).toBeLessThan(perGpu[i - 1]);
      expect(trainPeak(shape({ method, checkpointing: true })).total).toBeLessThan(
        trainPeak(shape({ method, checkpointing: false })).total,
      );
      expect(trainPeak(shape({ method, microBatch: 1 })).total).toBeLessThan(
        trainPeak(shape({ method, microBatch: 4 })).total,
      );
    }
    expect(trainPeak(shape({ method: 'lora' })).total).toBeLessThan(trainPeak(shape({ method: 'full' })).total);
  });

  it('checkpointing a fraction of the layers lands between none and all, counted as the trainer picks them', () => {
    const peaks = [false, 0.25, 0.5, 0.75, true].map(
      (checkpointing) => trainPeak(shape({ checkpointing })).activations,
    );
    for (let i = 1; i < peaks.length; i++) expect(peaks[i]).toBeLessThan(peaks[i - 1]);
    // trainer/msm_trainer/models.py checkpointed_layers: floor(layers × fraction) layers.
    expect([0.5, 0.25, 2 / 3, 0.1].map((f) => checkpointedLayerCount(64, f))).toEqual([32, 16, 42, 6]);
    expect(checkpointedLayerCount(64, true)).toBe(64);
    expect(checkpointedLayerCount(64, false)).toBe(0);
  });

  it('holds the whole 32B bf16 model on one GPU for sampling, and grows with the batch', () => {
    const one = samplePeak({ model: KNOWN_MODELS['qwen3-32b'], batch: 1, promptTokens: 1000, maxNewTokens: 1000 });
    expect(one.weights / GIB).toBeGreaterThan(60);
    expect(
      samplePeak({ model: KNOWN_MODELS['qwen3-32b'], batch: 8, promptTokens: 1000, maxNewTokens: 1000 }).total,
    ).toBeGreaterThan(one.total);
  });
});

describe('the plan of an experiment', () => {
  it("experiments/agentic.yaml fits its 8 × H100 node; the planner picks micro-batches within each GPU's share", () => {
    const { experiment } = loadExperimentFile(path.join(ROOT, 'experiments', 'agentic.yaml'));
    const plan = planFromDisk(experiment, ROOT);
    expect(plan.fits).toBe(true);
    expect(plan.jobs.map((j) => j.job)).toEqual(['midtrain', 'aft', 'eval generate']);
    expect(plan.jobs[0].line).toMatch(
      /^midtrain: qwen3-32b lora seq 4096 micro 2 × 8 GPUs → [\d.]+ GiB\/GPU of 79\.2: fits$/,
    );
    const applied = applyPlan(experiment, plan);
    expect(applied.midtrain.microBatchSize).toBe(2); // 16 rows over 8 GPUs
    expect(applied.eval.batchSize).toBeGreaterThan(0);
  });

  it('refuses an 8B full job on one 80 GB GPU, naming more GPUs and LoRA as fixes', () => {
    const plan = planFromDisk(parseExperiment(llamaFull), ROOT);
    expect(plan.fits).toBe(false);
    const midtrain = plan.jobs[0];
    expect(midtrain.verdict).toBe('does not fit');
    // The smallest count that fits, at the largest micro-batch that fits there (8 rows over 2 GPUs: 2 fit).
    expect(midtrain.fixes.join('\n')).toMatch(/more GPUs: 2 \(compute\.gpus: 2; micro 2 → [\d.]+ GiB\/GPU\)/);
    expect(midtrain.fixes.join('\n')).toMatch(/LoRA instead of full: method: lora/);
    expect(() => assertFits(plan, 'x.yaml')).toThrow(PlanRefusedError);
  });

  it('lowers its own micro-batch when memory needs it, but refuses one the experiment fixed too large', () => {
    const noCkpt = { method: 'lora', batchSize: 8, gradientCheckpointing: false };
    const x = parseExperiment({ ...llamaFull, midtrain: noCkpt, aft: { ...llamaFull.aft, hyper: noCkpt } });
    const picked = planFromDisk(x, ROOT);
    expect(picked.fits).toBe(true);
    expect(picked.jobs[0].microBatchSize).toBeLessThan(4);
    const fixed = { ...noCkpt, microBatchSize: 4 };
    const refused = planFromDisk(
      parseExperiment({ ...llamaFull, midtrain: fixed, aft: { ...llamaFull.aft, hyper: fixed } }),
      ROOT,
    );
    expect(refused.fits).toBe(false);
    expect(refused.jobs[0].fixes[0]).toMatch(/^smaller micro-batch: microBatchSize: [12]/);
    expect(refused.jobs[0].fixes[1]).toMatch(
      /^gradient checkpointing of part of the layers: gradientCheckpointing: 0\.25/,
    );
    expect(refused.jobs[0].fixes[2]).toMatch(/^gradient checkpointing: gradientCheckpointing: true/);
  });

  it('names partial checkpointing when it also fits: Qwen2.5-32B LoRA on one H200, measured at 44.6% MFU vs 38.4%', () => {
    // BENCHMARKS.md: checkpointing every layer peaked at 77.5 GiB, every second layer at 104.6 GiB.
    const ckpt = { method: 'lora', batchSize: 4, microBatchSize: 1, gradientCheckpointing: true };
    const qwen32b = {
      ...llamaFull,
      baseModel: { name: 'Qwen2.5-32B', tokenizer: 'qwen2.5', init: 'pretrained', path: '/nonexistent/Qwen2.5-32B' },
      midtrain: ckpt,
      aft: { ...llamaFull.aft, hyper: ckpt },
      compute: { backend: 'local', device: 'cuda', gpuMemoryGiB: 139.8, gpus: 1 },
    };
    const plan = planFromDisk(parseExperiment(qwen32b), ROOT);
    expect(plan.fits).toBe(true);
    expect(plan.jobs[0].faster).toMatch(/^gradientCheckpointing: 0\.5 also fits \(micro 1 → [\d.]+ GiB\/GPU\)/);
    expect(formatPlan(plan)).toContain('  faster: gradientCheckpointing: 0.5');
    // With 100 GiB every layer must recompute: nothing faster to say.
    const tight = planFromDisk(
      parseExperiment({ ...qwen32b, compute: { backend: 'local', device: 'cuda', gpuMemoryGiB: 100, gpus: 1 } }),
      ROOT,
    );
    expect(tight.jobs[0].verdict).toBe('fits');
    expect(tight.jobs[0].faster).toBeUndefined();
    // A fraction the trainer takes is a setting of its own; more than 1 is refused with the field named.
    expect(
      parseExperiment({ ...qwen32b, midtrain: { ...ckpt, gradientCheckpointing: 0.5 } }).midtrain.gradientCheckpointing,
    ).toBe(0.5);
    expect(() => parseExperiment({ ...qwen32b, midtrain: { ...ckpt, gradientCheckpointing: 1.5 } })).toThrow(
      /midtrain\.gradientCheckpointing/,
    );
  });

  it('on device cpu prints the estimate and says no GPU check applies', () => {
    const { experiment } = loadExperimentFile(path.join(ROOT, 'experiments', 'demo.json'));
    const plan = planFromDisk({ ...experiment, compute: { backend: 'local', device: 'cpu' } }, ROOT);
    expect(plan.fits).toBe(true);
    for (const j of plan.jobs) expect(j.line).toMatch(/→ [\d.]+ GiB: device cpu, no GPU check applies$/);
    expect(applyPlan(experiment, plan).eval.batchSize).toBeUndefined();
  });

  it('the load activity refuses a job that cannot fit, non-retryably, before reading anything else', async () => {
    const err = await createExperimentActivities()
      .loadExperiment(llamaFull)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'BadInput', nonRetryable: true });
    expect((err as Error).message).toMatch(/does not fit[\s\S]*fix 1/);
  });
});

describe('world size and GPU memory from the compute config', () => {
  it('derives the world of each backend and the memory of known GPU types', () => {
    expect(worldOf({ backend: 'local', device: 'cpu' })).toEqual({ nodes: 1, procsPerNode: 1 });
    expect(worldOf({ backend: 'local', device: 'cpu', gpus: 2 })).toEqual({ nodes: 1, procsPerNode: 2 });
    expect(worldOf({ backend: 'runpod', device: 'cuda', gpuType: 'NVIDIA H200', gpuCount: 8 })).toEqual({
      nodes: 1,
      procsPerNode: 8,
    });
    const ssh = { backend: 'ssh', device: 'cuda', host: 'a', hosts: ['a', 'b'], gpusPerHost: 4 } as const;
    expect(worldOf(ssh)).toEqual({ nodes: 2, procsPerNode: 4 });
    expect(gpuMemoryGiB({ backend: 'runpod', device: 'cuda', gpuType: 'NVIDIA H100 80GB HBM3', gpuCount: 1 })).toBe(
      79.2,
    );
    expect(gpuMemoryGiB({ backend: 'runpod', device: 'cuda', gpuType: 'NVIDIA A100-SXM4-40GB', gpuCount: 1 })).toBe(
      39.4,
    );
    expect(
      gpuMemoryGiB({ backend: 'runpod', device: 'cpu', gpuType: 'NVIDIA H100 80GB HBM3', gpuCount: 1 }),
    ).toBeUndefined();
  });

  it('refuses a batchSize the world does not divide, a micro-batch that does not divide the share, and unknown GPU types', () => {
    const runpod = {
      backend: 'runpod',
      gpuType: 'NVIDIA H100 80GB HBM3',
      gpuCount: 3,
      image: 'img',
      identityFile: '~/.ssh/id',
    };
    expect(() => parseExperiment({ ...minimal, compute: runpod })).toThrow(
      /midtrain\.batchSize: batchSize 8 does not divide over the world of 3 GPUs \(1 × 3 per node\): use a multiple of 3 \(e\.g\. 9\)/,
    );
    expect(() => parseExperiment({ ...minimal, midtrain: { microBatchSize: 3 } })).toThrow(
      /midtrain\.microBatchSize: microBatchSize 3 does not divide the per-GPU share of batchSize \(8 \/ 1 GPUs = 8\)/,
    );
    expect(() => parseExperiment({ ...minimal, compute: { ...runpod, gpuCount: 1, gpuType: 'NVIDIA B200' } })).toThrow(
      /compute\.gpuMemoryGiB: the memory planner does not know this gpuType/,
    );
    expect(
      parseExperiment({ ...minimal, compute: { ...runpod, gpuCount: 1, gpuType: 'NVIDIA B200', gpuMemoryGiB: 178 } })
        .compute,
    ).toMatchObject({ gpuMemoryGiB: 178 });
    const ssh = { backend: 'ssh', host: 'a', user: 'u', identityFile: '~/.ssh/id' };
    expect(() => parseExperiment({ ...minimal, compute: { ...ssh, hosts: ['b', 'a'] } })).toThrow(
      /compute\.hosts: hosts\[0\] must be host/,
    );
    const twoHosts = parseExperiment({
      ...minimal,
      midtrain: { batchSize: 16 },
      aft: { ...minimal.aft, hyper: { batchSize: 16 } },
      compute: { ...ssh, hosts: ['a', 'b:2222'], gpusPerHost: 8 },
    });
    expect(worldOf(twoHosts.compute)).toEqual({ nodes: 2, procsPerNode: 8 });
    expect(() => parseExperiment({ ...minimal, compute: { ...ssh, hosts: ['a', 'b'], gpusPerHost: 8 } })).toThrow(
      /batchSize 8 does not divide over the world of 16 GPUs \(2 × 8 per node\)/,
    );
  });
});

describe('the trainer manifest', () => {
  it('carries the world and the resolved micro-batch; the micro-batch is not in the run key', async () => {
    const { backend, manifests } = recordingBackend();
    const trainer = createTrainerActivities({ backend, stateDir: path.join(tmp, 'state') });
    const x = parseExperiment({ ...minimal, compute: { backend: 'local', device: 'cpu', gpus: 2 } });
    const req = (microBatchSize?: number): TrainRequest => ({
      kind: 'midtrain',
      storeUri: `file://${path.join(tmp, 'store')}`,
      label: 'midtrain',
      seed: 0,
      data: {
        manifestUri: 'file:///data/manifest.json',
        sha256: 'd',
        numSequences: 1,
        numTokens: 1,
        tokenizerUri: 'file:///tok.json',
        vocabSize: 10,
      },
      experiment: { baseModel: x.baseModel, compute: x.compute },
      hyper: { ...midtrainHyper(x.midtrain), microBatchSize },
    });
    const env = new MockActivityEnvironment();
    const a: TrainResult = await env.run(trainer.runTraining, req(1));
    const b: TrainResult = await env.run(trainer.runTraining, req(undefined));
    expect(manifests[0]).toMatchObject({
      world: { nodes: 1, procsPerNode: 2 },
      hyper: { batchSize: 8, microBatchSize: 1 },
    });
    // A run loaded before the planner gets its default: 4 rows, the per-GPU share of 8 over 2.
    expect(manifests[1].hyper?.microBatchSize).toBe(4);
    expect(a.runKey).toBe(b.runKey);
  });
});

describe('msm plan', () => {
  // In this process (the CLI's runCli): validate-cli and plan-cost-cli run the entry point as a process.
  const cli = (...args: string[]) => runMsmInProcess(args);

  it('exits 3 on an experiment that cannot fit, printing each job and the fixes', async () => {
    const file = path.join(tmp, 'unfit.yaml');
    writeFileSync(file, YAML.stringify(llamaFull));
    const r = await cli('plan', file);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(
      /^midtrain: llama-3\.1-8b full seq 4096 micro 1 × 1 GPU → [\d.]+ GiB\/GPU of 79\.2: does not fit$/m,
    );
    expect(r.stdout).toMatch(/fix \d: more GPUs/);
    const v = await cli('validate', file);
    expect(v.status).toBe(3);
    expect(v.stderr).toMatch(/cannot fit in GPU memory/);
  }, 60_000);

  it('--json prints the plan; exit 0 when everything fits', async () => {
    const r = await cli('plan', path.join(ROOT, 'experiments', 'agentic.yaml'), '--json');
    expect(r.status, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as {
      fits: boolean;
      gpuMemoryGiB: number;
      jobs: Array<{ job: string; microBatchSize?: number }>;
    };
    expect(plan).toMatchObject({ fits: true, gpuMemoryGiB: 79.2 });
    expect(plan.jobs[0]).toMatchObject({ job: 'midtrain', microBatchSize: 2 });
  }, 60_000);
});
