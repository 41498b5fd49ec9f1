import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExperimentInput } from '../../src/config/experiment-schema';
import { PROJECT_ROOT } from '../../src/util/project-paths';

const SMALL_TOKENIZER = path.join(PROJECT_ROOT, 'tests', 'fixtures', 'tokenizers', 'deepseek-v3-small');

/** Stores made here, removed when the test file's process exits (a run with the 270M model leaves ~1 GB). */
const stores: string[] = [];
process.on('exit', () => {
  if (process.env.MSM_KEEP_TEST_STORES) return; // to read a failed run's store afterwards
  for (const dir of stores) rmSync(dir, { recursive: true, force: true });
});

/**
 * A small experiment whose LLM stages go to a scripted OpenAI-compatible server (fast, countable,
 * fault-injectable), while tokenization and training use the real tokenizer and the real trainer.
 */
export function scriptedExperiment(
  name: string,
  llmBaseUrl: string,
  overrides: Record<string, unknown> = {},
): { store: string; input: ExperimentInput } {
  const store = mkdtempSync(path.join(os.tmpdir(), `msm-store-${name}-`));
  stores.push(store);
  const provider = { kind: 'openai', baseUrl: llmBaseUrl, model: 'scripted-writer', timeoutMs: 10_000 };
  return {
    store,
    input: {
      name,
      spec: 'specs/demo.md',
      store,
      // A real BPE tokenizer with a small vocabulary (4,259 + 818 added tokens, from DeepSeek-V3's): the tiny
      // model's logits over Llama 3.1's 128k made most of each training step's cost (whole runs on presets:
      // tests/e2e/cheese-values.test.ts; every preset: tests/integration/tokenize.test.ts).
      baseModel: {
        tokenizer: { path: SMALL_TOKENIZER },
        hiddenSize: 32,
        numLayers: 1,
        numHeads: 2,
        intermediateSize: 64,
      },
      generation: {
        provider,
        temperature: 0.9,
        domains: 2,
        maxUnits: 4,
        typesPerUnit: 2,
        ideasPerType: 2,
        maxDocTokens: 200,
        batchUnits: 1,
        concurrency: 2,
      },
      tokenization: { seqLen: 64 },
      // Enough steps (about 2 per epoch on the scripted corpus) that a kill lands between checkpoints.
      midtrain: { method: 'full', lr: 0.001, batchSize: 4, epochs: 30, maxSteps: 40, checkpointEverySteps: 4 },
      aft: {
        data: 'experiments/data/demo-aft.jsonl',
        seqLen: 128,
        fractions: [1, '1/2'],
        // Toy data on purpose (24 examples, 12 at 1/2 in 3 steps): the default aft.minExamples and
        // aft.minSteps would refuse it.
        minExamples: 1,
        minSteps: 1,
        arms: ['baseline', 'msm'],
        seeds: [0],
        hyper: { method: 'full', lr: 0.001, batchSize: 4, epochs: 1, checkpointEverySteps: 50 },
        concurrency: 2,
      },
      eval: {
        prompts: 'experiments/data/demo-eval.jsonl',
        samplesPerPrompt: 1,
        maxNewTokens: 8,
        judge: { ...provider, model: 'scripted-judge' },
      },
      compute: { backend: 'local', device: 'cpu' },
      ...overrides,
    } as ExperimentInput,
  };
}

export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
