import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { z } from 'zod';
import { completeJson } from '../../src/llm/call';
import type { ProviderSettings } from '../../src/config/experiment-schema';
import { createProvider } from '../../src/llm/create-provider';
import { parseJsonOutput } from '../../src/llm/json-output';
import { createOpenAiCompatibleProvider, retryAfterMs } from '../../src/llm/openai-compatible';
import type { CompletionRequest, LlmProvider } from '../../src/llm/provider';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { llmFailure } from '../helpers/llm-failure';
import { seedOfKey } from '../../src/llm/seed';

type Server = Awaited<ReturnType<typeof startScriptedLlmServer>>;

const listSchema = {
  type: 'object',
  properties: {
    items: { type: 'array', items: { type: 'string' } },
    verdict: { type: 'string', enum: ['violates', 'complies'] },
    score: { type: 'integer', minimum: 1 },
  },
  required: ['items', 'verdict', 'score'],
  additionalProperties: false,
};
const listZod = z.object({
  items: z.array(z.string().min(1)),
  verdict: z.enum(['violates', 'complies']),
  score: z.number().int().min(1),
});

const req = (over: Partial<CompletionRequest> = {}): CompletionRequest => ({
  messages: [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Name two fruits.' },
  ],
  maxTokens: 64,
  temperature: 0.7,
  ...over,
});

describe('OpenAI-compatible provider against the scripted server', () => {
  let server: Server;
  let provider: LlmProvider;

  beforeAll(async () => {
    server = await startScriptedLlmServer();
    provider = createOpenAiCompatibleProvider({
      baseUrl: server.baseUrl,
      model: 'scripted-writer',
      apiKey: 'sk-test',
      timeoutMs: 1_000,
    });
  });
  afterEach(() => server.setFaults([]));
  afterAll(() => server.close());

  it('sends the OpenAI wire format and maps text, usage and finish reason', async () => {
    const before = server.requests.length;
    const res = await provider.complete(req({ seed: 7 }));
    expect(res.finishReason).toBe('stop');
    expect(res.text).toMatch(/^Scripted reply [0-9a-f]{8}/);
    expect(res.usage).toEqual({ inputTokens: 6, outputTokens: res.text.split(/\s+/).length });
    expect(res.model).toBe('scripted-writer');
    const sent = server.requests[before];
    expect(sent.body).toMatchObject({
      model: 'scripted-writer',
      max_tokens: 64,
      temperature: 0.7,
      seed: 7,
      messages: req().messages,
    });
    expect(sent.body.response_format).toBeUndefined();
    expect(sent.headers.authorization).toBe('Bearer sk-test');
    // Deterministic: the same prompt gets the same answer.
    expect((await provider.complete(req())).text).toBe(res.text);
  });

  it('maps jsonSchema to a strict json_schema response_format, and the answer validates', async () => {
    const res = await provider.complete(req({ jsonSchema: listSchema }));
    expect(server.requests.at(-1)!.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'output', schema: listSchema, strict: true },
    });
    const value = parseJsonOutput(res.text, listZod);
    expect(value.items).toHaveLength(2);
    expect(new Set(value.items).size).toBe(2);
  });

  it('429 with Retry-After in seconds is retryable with retryAfterMs', async () => {
    server.setFaults([
      { type: 'http', status: 429, headers: { 'retry-after': '3' }, body: '{"error":{"message":"slow down"}}' },
    ]);
    const e = await llmFailure(provider.complete(req()));
    expect(e).toMatchObject({ retryable: true, status: 429, retryAfterMs: 3000 });
    expect(e.message).toMatch(/rate limited.*slow down/);
  });

  it('retry-after-ms wins over Retry-After, and an HTTP date is parsed', async () => {
    server.setFaults([{ type: 'http', status: 429, headers: { 'retry-after': '10', 'retry-after-ms': '250' } }]);
    expect((await llmFailure(provider.complete(req()))).retryAfterMs).toBe(250);
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': 'Tue, 01 Jan 2030 00:00:05 GMT' }), now)).toBe(5000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Mon, 31 Dec 2029 23:59:00 GMT' }), now)).toBe(0);
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
  });

  it.each([500, 503, 529, 408, 409])('HTTP %i is retryable', async (status) => {
    server.setFaults([{ type: 'http', status, headers: status === 503 ? { 'retry-after': '1' } : {} }]);
    const e = await llmFailure(provider.complete(req()));
    expect(e).toMatchObject({ retryable: true, status });
    expect(e.retryAfterMs).toBe(status === 503 ? 1000 : undefined);
  });

  it.each([
    [400, /bad request/],
    [401, /check the API key env var/],
    [403, /forbidden/],
    [404, /check provider\.baseUrl/],
    [422, /unprocessable/],
  ])('HTTP %i is not retryable and says what to fix', async (status, fix) => {
    server.setFaults([{ type: 'http', status }]);
    const e = await llmFailure(provider.complete(req()));
    expect(e).toMatchObject({ retryable: false, status });
    expect(e.message).toMatch(fix);
    expect(e.message).toContain(`HTTP ${status}`);
  });

  it('a hang past the client timeout is a retryable timeout', async () => {
    server.setFaults([{ type: 'hang' }]);
    const t0 = Date.now();
    const e = await llmFailure(provider.complete(req()));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/timed out after 1000 ms/);
    // The next request is answered normally.
    expect((await provider.complete(req())).finishReason).toBe('stop');
  });

  it('a dropped connection and a closed port are retryable network errors', async () => {
    server.setFaults([{ type: 'drop' }]);
    expect(await llmFailure(provider.complete(req()))).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/network error/),
    });
    const dead = await startScriptedLlmServer();
    await dead.close();
    const gone = createOpenAiCompatibleProvider({ baseUrl: dead.baseUrl, model: 'm', timeoutMs: 1_000 });
    expect(await llmFailure(gone.complete(req()))).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/ECONNREFUSED/),
    });
  });

  it('finish_reason length is reported as truncation', async () => {
    server.setFaults([{ type: 'truncate', keepChars: 10 }]);
    const res = await provider.complete(req());
    expect(res.finishReason).toBe('length');
    expect(res.text).toHaveLength(10);
  });

  it('a 200 with an unparseable body or no choices is a retryable malformed response', async () => {
    server.setFaults([{ type: 'malformedBody' }, { type: 'noChoices' }]);
    expect(await llmFailure(provider.complete(req()))).toMatchObject({
      retryable: true,
      message: expect.stringMatching(/^malformed response: body is not JSON/),
    });
    expect(await llmFailure(provider.complete(req()))).toMatchObject({
      retryable: true,
      message: 'malformed response: no choices',
    });
  });

  it('a 200 whose content is not the requested JSON fails parsing as retryable', async () => {
    server.setFaults([{ type: 'wrongContent' }]);
    const res = await provider.complete(req({ jsonSchema: listSchema }));
    const e = await llmFailure(Promise.resolve().then(() => parseJsonOutput(res.text, listZod)));
    expect(e.retryable).toBe(true);
  });

  it('a fault function sees each request, and latency delays answers', async () => {
    server.setFaults((r) => (r.body.messages?.at(-1)?.content === 'fail me' ? { type: 'http', status: 503 } : null));
    server.setLatency(150);
    try {
      const t0 = Date.now();
      await provider.complete(req());
      expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
      await llmFailure(provider.complete(req({ messages: [{ role: 'user', content: 'fail me' }] })));
    } finally {
      server.setLatency(0);
    }
  });
});

describe('createProvider', () => {
  it('builds an openai provider that sends the key from the named env var', async () => {
    const server = await startScriptedLlmServer();
    process.env.MSM_TEST_LLM_KEY = 'sk-from-env';
    try {
      const p = await createProvider(
        { kind: 'openai', baseUrl: server.baseUrl, model: 'm1', apiKeyEnv: 'MSM_TEST_LLM_KEY' },
        '/nonexistent',
      );
      await p.complete(req());
      expect(server.requests[0].headers.authorization).toBe('Bearer sk-from-env');
    } finally {
      delete process.env.MSM_TEST_LLM_KEY;
      await server.close();
    }
  });

  it('a missing API key env var is a non-retryable error naming the variable', async () => {
    const e = await llmFailure(
      createProvider(
        { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', apiKeyEnv: 'MSM_NO_SUCH_KEY' },
        '/nonexistent',
      ),
    );
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('MSM_NO_SUCH_KEY');
  });

  it('a local model path that does not exist is a non-retryable error naming the path', async () => {
    const e = await llmFailure(createProvider({ kind: 'local', model: '/nonexistent/model.gguf' }, '/nonexistent'));
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('/nonexistent/model.gguf');
  });
});

describe('structured calls retried after a malformed answer', () => {
  it('sample at a rising temperature and a new seed, since a deterministic answer would fail the same way again', async () => {
    const llm = await startScriptedLlmServer();
    try {
      const settings = {
        kind: 'openai',
        baseUrl: llm.baseUrl,
        model: 'retry-temp',
        timeoutMs: 5000,
      } as ProviderSettings;
      const schema = z.object({ ok: z.boolean() });
      const req: CompletionRequest = {
        messages: [{ role: 'user', content: 'judge' }],
        maxTokens: 20,
        temperature: 0,
        requestId: 'corpus/item-1',
        jsonSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
      };
      for (const attempt of [1, 2, 3, 5]) {
        await new MockActivityEnvironment({ attempt }).run(completeJson, settings, req, schema);
      }
      expect(llm.requests.map((r) => r.body.temperature)).toEqual([0, 0.3, 0.6, 1]);
      // The first attempt is the item's own seeded request; every retry asks with a seed of its own.
      const seeds = llm.requests.map((r) => r.body.seed);
      expect(seeds[0]).toBe(seedOfKey('corpus/item-1'));
      expect(seeds[3]).toBe(seedOfKey('corpus/item-1#attempt-5'));
      expect(new Set(seeds).size).toBe(4);
    } finally {
      await llm.close();
    }
  });
});
