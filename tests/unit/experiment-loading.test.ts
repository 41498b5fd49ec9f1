import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import type { LoadedExperiment } from '../../src/activities/types';
import { openStore } from '../../src/store/open-store';
import { checkTokenizerFitsModel, resolveModelPath } from '../../src/tokenize/model-vocab';
import { PROJECT_ROOT } from '../../src/util/project-paths';

const base = (store: string, evalPart: Record<string, unknown>) => ({
  name: 'split-check',
  spec: 'specs/self-preservation.md',
  store,
  aft: { data: 'experiments/data/demo-aft.jsonl', minSteps: 1 },
  eval: { prompts: 'experiments/data/agentic-eval.jsonl', ...evalPart },
});
const load = (raw: unknown): Promise<LoadedExperiment> =>
  new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw);

describe('loading an experiment: the eval split', () => {
  const lines = readFileSync(path.join(__dirname, '..', '..', 'experiments', 'data', 'agentic-eval.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { id: string; split: string });

  it('stores only the chosen split, so its hash says which part was evaluated', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-split-'));
    const auto = await load(base(store, {}));
    const all = await load(base(store, { split: 'all' }));
    const held = await load(base(store, { split: 'heldout' }));
    const dev = await load(base(store, { split: 'dev' }));
    const heldIds = lines.filter((l) => l.split === 'heldout').map((l) => l.id);
    expect(all.evalSet).toMatchObject({ prompts: lines.length, split: 'all', of: lines.length });
    expect(held.evalSet).toMatchObject({ prompts: heldIds.length, split: 'heldout', of: lines.length });
    expect(dev.evalSet.prompts).toBe(lines.length - heldIds.length);
    // By default a suite with a held-out split reports on it: the reported number is never tuned on.
    expect(auto.evalSet).toEqual(held.evalSet);
    expect(new Set([all.evalSet.sha256, held.evalSet.sha256, dev.evalSet.sha256]).size).toBe(3);
    const stored = (await openStore(store).get(held.evalSet.key))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: string }).id);
    expect(stored).toEqual(heldIds);
  });

  it('eval.conditions evaluates only the lines whose condition matches (the paper reports urgency=replacement)', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-split-'));
    const replacement = await load(base(store, { split: 'all', conditions: { urgency: ['replacement'] } }));
    expect(replacement.evalSet.prompts).toBe(lines.length / 3);
    const stored = (await openStore(store).get(replacement.evalSet.key)).toString('utf8');
    expect(
      stored
        .trim()
        .split('\n')
        .every((l) => l.includes('"urgency":"replacement"')),
    ).toBe(true);
    const none = await load(base(store, { conditions: { urgency: ['sometimes'] } })).catch((e: unknown) => e);
    expect((none as Error).message).toMatch(/eval\.conditions: no line of .* matches \{"urgency":\["sometimes"\]\}/);
  });

  it('a split the eval set does not have is bad input that says what to do', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-split-'));
    const err = await load({
      ...base(store, { split: 'dev' }),
      eval: { prompts: 'experiments/data/demo-eval.jsonl', split: 'dev' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(
      /eval\.split "dev": no line of experiments\/data\/demo-eval\.jsonl is in that split/,
    );
  });
});

describe('loading an experiment: the base model and its tokenizer', () => {
  const modelDir = (config: unknown) => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'msm-model-'));
    writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
    return d;
  };
  const withModel = (store: string, baseModel: Record<string, unknown>) => ({
    ...base(store, {}),
    baseModel: { init: 'pretrained', ...baseModel },
  });

  it('a relative path resolves against the project root; s3:// and hf: ids pass through unchanged', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-model-'));
    const rel = await load(withModel(store, { tokenizer: 'gemma3', path: '.msm/models/gemma-3-270m' }));
    expect(rel.experiment.baseModel.path).toBe(path.join(PROJECT_ROOT, '.msm', 'models', 'gemma-3-270m'));
    for (const p of ['s3://bucket/models/llama', 'hf:meta-llama/Llama-3.1-8B@main']) {
      expect((await load(withModel(store, { path: p }))).experiment.baseModel.path).toBe(p);
    }
    expect(resolveModelPath('/abs/model', '/elsewhere')).toBe('/abs/model');
  });

  it("refuses a tokenizer of another family, or one whose ids would not fit the model's embeddings", async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-model-'));
    const refused = async (tokenizer: string, config: unknown) => {
      const err = await load(withModel(store, { tokenizer, path: modelDir(config) })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect((err as ApplicationFailure).nonRetryable).toBe(true);
      return (err as Error).message;
    };
    expect(await refused('llama3.1', { model_type: 'gemma3_text', vocab_size: 262144 })).toMatch(
      /baseModel.tokenizer is llama3.1 but .* is a gemma3_text model: set baseModel.tokenizer to gemma3/,
    );
    expect(await refused('gemma3', { model_type: 'qwen3', vocab_size: 151936 })).toMatch(
      /set baseModel.tokenizer to qwen3/,
    );
    expect(await refused('llama3.1', { model_type: 'mistral', vocab_size: 32768 })).toMatch(
      /llama3.1 has 128256 token ids but .* has 32768 embedding rows/,
    );
    // The real local Gemma 3 270M (scripts/setup.sh), and a multimodal config that keeps its numbers in text_config.
    await expect(
      checkTokenizerFitsModel('gemma3', path.join(PROJECT_ROOT, '.msm', 'models', 'gemma-3-270m')),
    ).resolves.toBeUndefined();
    await expect(
      checkTokenizerFitsModel(
        'gemma3',
        modelDir({ model_type: 'gemma3', text_config: { model_type: 'gemma3_text', vocab_size: 262208 } }),
      ),
    ).resolves.toBeUndefined();
    await expect(
      checkTokenizerFitsModel('qwen2.5', modelDir({ model_type: 'qwen2', vocab_size: 152064 })),
    ).resolves.toBeUndefined();
  });
});
