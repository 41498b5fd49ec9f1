import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCorpusActivities } from '../../src/activities/corpus-activities';
import { docKey, ideasKey, typesKey, unitsKey } from '../../src/corpus/keys';
import { emptyStageList } from '../../src/corpus/stage-list';
import { writeJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';
import { complete, completeJson, usageFor } from '../../src/llm/call';
import { parseExperiment, type ProviderSettings } from '../../src/config/experiment-schema';
import { documentTypesPrompt, typesOutputSchema } from '../../src/corpus/prompts';
import { usageOf } from '../../src/cost/usage';
import { createAnthropicProvider } from '../../src/llm/anthropic';
import type { CompletionRequest, LlmProvider } from '../../src/llm/provider';
import { startScriptedAnthropicServer } from '../helpers/scripted-anthropic-server';
import { llmFailure } from '../helpers/llm-failure';

type Server = Awaited<ReturnType<typeof startScriptedAnthropicServer>>;

const SPEC = '# Spec\n\n## Honesty\n\nThe assistant says plainly what it cannot do, because trust depends on it.';
const unit = { domain: 'Hospitals', subdomain: 'Rotas', specSection: 'Honesty' };
const docReq = (idea: string): CompletionRequest => ({
  messages: [
    { role: 'system', content: `You write documents about this spec.\n<spec>\n${SPEC}\n</spec>` },
    { role: 'user', content: `Idea: ${idea}. Write it inside <content></content>.` },
  ],
  maxTokens: 100,
  temperature: 0.9,
});

describe('Anthropic provider through @anthropic-ai/sdk against a scripted Messages server', () => {
  let server: Server;
  let provider: LlmProvider;

  beforeAll(async () => {
    server = await startScriptedAnthropicServer();
    provider = createAnthropicProvider({
      model: 'claude-scripted',
      apiKey: 'sk-ant-test',
      baseUrl: server.url,
      timeoutMs: 1000,
    });
  });
  afterEach(() => server.setFaults([]));
  afterAll(() => server.close());

  it('marks the spec system prompt for caching: written once, then read; cost uses the cache prices', async () => {
    const first = await provider.complete(docReq('a nurse'));
    const second = await provider.complete(docReq('a pharmacist'));
    const sent = server.requests.at(-1)!.body as unknown as {
      system: { text: string; cache_control?: { type: string } }[];
    };
    expect(sent.system).toHaveLength(1);
    expect(sent.system[0].cache_control).toEqual({ type: 'ephemeral' });
    expect(sent.system[0].text).toContain('<spec>');
    expect(first.usage.cacheWriteTokens).toBeGreaterThan(0);
    expect(first.usage.cacheReadTokens).toBe(0);
    expect(second.usage).toMatchObject({ cacheWriteTokens: 0, cacheReadTokens: first.usage.cacheWriteTokens });
    expect(first.text).toMatch(/<content>/);
    expect(first.finishReason).toBe('stop');

    const price = {
      inputPerMillion: 3,
      outputPerMillion: 15,
      cacheWritePerMillion: 3.75,
      cacheReadPerMillion: 0.3,
      batchDiscount: 0.5,
    };
    const u = second.usage;
    const expected = (u.inputTokens * 3 + u.cacheReadTokens! * 0.3 + u.outputTokens * 15) / 1e6;
    expect(usageOf(u, price).costUsd).toBeCloseTo(expected, 12);
    expect(usageOf(u, price, { batch: true }).costUsd).toBeCloseTo(expected / 2, 12);
    expect(usageOf(u, price).inputTokens).toBe(u.inputTokens + u.cacheReadTokens!);
    // Without cache prices, cache tokens cost the input price.
    expect(usageOf(first.usage, { inputPerMillion: 1e6, outputPerMillion: 0 }).costUsd).toBe(
      first.usage.inputTokens + first.usage.cacheWriteTokens!,
    );
  });

  it('answers a JSON stage through a forced tool call, validated by the stage schema', async () => {
    const settings = {
      kind: 'anthropic',
      model: 'claude-scripted',
      apiKeyEnv: 'SCRIPTED_ANTHROPIC_KEY',
      baseUrl: server.url,
      timeoutMs: 1000,
    } as ProviderSettings;
    process.env.SCRIPTED_ANTHROPIC_KEY = 'sk-ant-test';
    const p = documentTypesPrompt(SPEC, unit, { count: 3, existing: [] });
    const { value } = await completeJson(settings, { ...p, temperature: 0.5 }, typesOutputSchema);
    expect(value.types).toHaveLength(3);
    const body = server.requests.at(-1)!.body as unknown as {
      tool_choice: unknown;
      tools: { input_schema: unknown }[];
    };
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'output' });
    expect(body.tools[0].input_schema).toEqual(p.jsonSchema);
    // A prose answer instead of the tool call is a retryable malformed-JSON fault.
    server.setFaults([{ type: 'wrongContent' }]);
    const e = await completeJson(settings, { ...p, temperature: 0.5 }, typesOutputSchema).catch((x: unknown) => x);
    expect(String((e as Error).message)).toMatch(/malformed JSON/);
    expect((e as { nonRetryable?: boolean }).nonRetryable).toBe(false);
  });

  it('classifies errors: rate limits and overload retry after the server asks, credit errors hold the key, bad requests fail fast', async () => {
    server.setFaults([{ type: 'http', status: 429, headers: { 'retry-after': '3' } }]);
    expect(await llmFailure(provider.complete(docReq('x')))).toMatchObject({
      retryable: true,
      status: 429,
      retryAfterMs: 3000,
      usageLimit: false,
    });
    server.setFaults([{ type: 'http', status: 529 }]);
    expect((await llmFailure(provider.complete(docReq('x')))).message).toMatch(/overloaded/);
    server.setFaults([{ type: 'http', status: 503, headers: { 'retry-after-ms': '250' } }]);
    expect(await llmFailure(provider.complete(docReq('x')))).toMatchObject({ retryable: true, retryAfterMs: 250 });
    server.setFaults([{ type: 'http', status: 402 }]);
    expect(await llmFailure(provider.complete(docReq('x')))).toMatchObject({ retryable: true, usageLimit: true });
    const credit = JSON.stringify({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API.' },
    });
    server.setFaults([{ type: 'http', status: 400, body: credit }]);
    expect(await llmFailure(provider.complete(docReq('x')))).toMatchObject({ retryable: true, usageLimit: true });
    server.setFaults([{ type: 'http', status: 400 }]);
    expect(await llmFailure(provider.complete(docReq('x')))).toMatchObject({ retryable: false, status: 400 });
    server.setFaults([{ type: 'http', status: 401 }]);
    expect((await llmFailure(provider.complete(docReq('x')))).message).toMatch(/ANTHROPIC_API_KEY/);
    server.setFaults([{ type: 'hang' }]);
    expect((await llmFailure(provider.complete(docReq('x')))).message).toMatch(/timed out/);
    server.setFaults([{ type: 'drop' }]);
    expect(await llmFailure(provider.complete(docReq('x')))).toMatchObject({ retryable: true });
    server.setFaults([{ type: 'malformedBody' }]);
    expect(await llmFailure(provider.complete(docReq('x')))).toMatchObject({ retryable: true });
    server.setFaults([{ type: 'truncate' }]);
    expect((await provider.complete(docReq('x'))).finishReason).toBe('length');
  });

  it('shares the key rate limiter: a Retry-After holds the next call on the key', async () => {
    process.env.SCRIPTED_ANTHROPIC_KEY = 'sk-ant-test';
    const settings = {
      kind: 'anthropic',
      model: 'claude-limited',
      apiKeyEnv: 'SCRIPTED_ANTHROPIC_KEY',
      baseUrl: server.url,
      timeoutMs: 1000,
      limits: { requests: 100, perSeconds: 60 },
    } as ProviderSettings;
    server.setFaults([{ type: 'http', status: 429, headers: { 'retry-after': '1' } }]);
    await expect(complete(settings, docReq('y'))).rejects.toThrow(/rate limited/);
    const t0 = Date.now();
    const res = await complete(settings, docReq('y'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(usageFor(settings, res).calls).toBe(1);
  });

  it('validates the provider config: a batch needs a provider with a batch API', () => {
    const base = { name: 'x', spec: 's.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };
    const x = parseExperiment({
      ...base,
      generation: { provider: { kind: 'anthropic', model: 'claude-x' }, batch: true },
    });
    expect(x.generation.provider).toMatchObject({
      kind: 'anthropic',
      apiKeyEnv: 'ANTHROPIC_API_KEY',
      timeoutMs: 120_000,
    });
    expect(() => parseExperiment({ ...base, generation: { batch: true } })).toThrow(
      /generation\.batch: batch needs a provider with a batch API/,
    );
  });

  it("projects the rest of a batch-mode corpus at the pilot's cache mix and the batch discount", async () => {
    const store = openStore(mkdtempSync(path.join(os.tmpdir(), 'msm-preview-')));
    const prefix = 'corpus/p';
    await store.put('spec.md', SPEC);
    await writeJson(store, unitsKey(prefix), [unit]);
    await writeJson(store, typesKey(prefix, 0), { ...emptyStageList<string>(), items: ['memo'] });
    await writeJson(store, ideasKey(prefix, 0, 0), { ...emptyStageList<string>(), items: ['a', 'b', 'c'] });
    await writeJson(store, docKey(prefix, 'u0000-t00-i00'), {
      id: 'u0000-t00-i00',
      usage: { inputTokens: 10, outputTokens: 20, cacheWriteTokens: 0, cacheReadTokens: 1000, costUsd: 0 },
    });
    const price = {
      inputPerMillion: 3,
      outputPerMillion: 15,
      cacheWritePerMillion: 3.75,
      cacheReadPerMillion: 0.3,
      batchDiscount: 0.5,
    };
    const x = parseExperiment({
      name: 'x',
      spec: 's.md',
      aft: { data: 'a.jsonl' },
      eval: { prompts: 'e.jsonl' },
      generation: { provider: { kind: 'anthropic', model: 'claude-x', price }, batch: true },
    });
    const job = { storeUri: store.rootUri, specKey: 'spec.md', specHash: 'h', generation: x.generation };
    const preview = await createCorpusActivities().previewCorpus(job, { storeUri: store.rootUri, prefix, units: 1 });
    expect(preview).toMatchObject({
      documents: 3,
      documentsDone: 1,
      basis: 'pilot',
      projectedInputTokens: 2 * 1010,
      projectedOutputTokens: 40,
    });
    expect(preview.projectedCostUsd).toBeCloseTo(((2 * (10 * 3 + 1000 * 0.3 + 20 * 15)) / 1e6) * 0.5, 12);
  });
});
