import { ApplicationFailure } from '@temporalio/common';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseExperiment } from '../../src/config/experiment-schema';
import { sampleOnEngine } from '../../src/eval/engine/sample-on-engine';
import { evalKeyOf } from '../../src/eval/sampling';
import type { EvalRequest } from '../../src/eval/types';
import { FsArtifactStore } from '../../src/store/fs-store';

/**
 * eval.engine openai against a server speaking vLLM's API (OpenAI's chat completions with `n` and `seed`,
 * and vLLM's run-time LoRA loading), scripted here: what each cell asks for, the adapters it loads, the
 * lines it stores, and a retried activity asking only for the prompts still missing. The same path against
 * a real OpenAI-compatible server (transformers serve): tests/integration/openai-engine.test.ts.
 */
interface Seen {
  path: string;
  body: Record<string, unknown>;
}
const seen: Seen[] = [];
const loaded = new Set<string>();
/** A prompt whose requests fail with a 503, one answered without content, and whether `n` is ignored. */
const faults: { failOn?: string; noContentOn?: string; ignoreN: boolean } = { ignoreN: false };

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c: Buffer) => (raw += c.toString()));
  req.on('end', () => {
    const body = JSON.parse(raw) as Record<string, unknown>;
    seen.push({ path: req.url ?? '', body });
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.url === '/v1/load_lora_adapter') {
      const name = String(body.lora_name);
      if (loaded.has(name))
        return send(400, { error: { message: `The lora adapter '${name}' has already been loaded.` } });
      loaded.add(name);
      return send(200, { ok: true });
    }
    const user = (body.messages as Array<{ content: string }>).at(-1)!.content;
    if (user === faults.failOn) return send(503, { error: { message: 'overloaded' } });
    const n = faults.ignoreN ? 1 : Number(body.n ?? 1);
    send(200, {
      choices: Array.from({ length: n }, (_, i) => ({
        index: i,
        message: {
          role: 'assistant',
          content:
            user === faults.noContentOn ? null : `${String(body.model)} on "${user}" #${i} seed ${String(body.seed)}`,
        },
        finish_reason: i === 0 ? 'stop' : 'length',
      })),
      usage: { prompt_tokens: 11, completion_tokens: 5 * n },
    });
  });
});

const root = mkdtempSync(path.join(os.tmpdir(), 'msm-engine-'));
const store = new FsArtifactStore(pathToFileURL(path.join(root, 'store')).href);
let baseUrl = '';

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  const lines = Array.from({ length: 10 }, (_, i) =>
    JSON.stringify({ id: `p${i}`, messages: [{ role: 'user', content: `question ${i}` }] }),
  );
  await store.put('inputs/eval.jsonl', `${lines.join('\n')}\n`);
});
afterAll(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  seen.length = 0;
  Object.assign(faults, { failOn: undefined, noContentOn: undefined, ignoreN: false });
});

function request(modelUri: string | null, engine: Record<string, unknown> = {}, evalOver = {}): EvalRequest {
  const x = parseExperiment({
    name: 'engine-test',
    spec: 'specs/demo.md',
    baseModel: { name: 'qwen3-8b', init: 'pretrained', path: '/models/qwen3-8b', tokenizer: 'qwen3' },
    aft: { data: 'unused.jsonl' },
    eval: {
      prompts: 'unused.jsonl',
      samplesPerPrompt: 2,
      maxNewTokens: 16,
      engine: { kind: 'openai', baseUrl, ...engine },
      ...evalOver,
    },
  });
  return {
    storeUri: pathToFileURL(path.join(root, 'store')).href,
    label: `eval-${modelUri === null ? 'base' : 'msm'}-s0`,
    modelUri,
    tokenizerUri: 'file:///unused/tokenizer.json',
    evalSet: { key: 'inputs/eval.jsonl', sha256: 'e', prompts: 10 },
    experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
    seed: 3,
  };
}

const samples = (evalKey: string) =>
  readFileSync(path.join(root, 'store', evalKey, 'samples', 'samples.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function adapterFolder(name: string, lora = true): string {
  const d = path.join(root, 'runs', name);
  mkdirSync(d, { recursive: true });
  if (lora) writeFileSync(path.join(d, 'adapter_config.json'), '{}');
  return d;
}

const run = (req: EvalRequest, system?: string) => sampleOnEngine(store, req, evalKeyOf(req), system, () => {});

describe('sampling through an OpenAI-compatible server (eval.engine openai)', () => {
  it("asks for the base model by its served name, all of a prompt's samples in one request, seeded", async () => {
    const req = request(null, {}, { thinking: 'off' });
    await run(req, 'Follow the spec.');
    const chats = seen.filter((s) => s.path === '/v1/chat/completions');
    expect(chats).toHaveLength(10);
    expect(chats[0].body).toMatchObject({
      model: 'qwen3-8b',
      n: 2,
      max_tokens: 16,
      temperature: 0.7,
      chat_template_kwargs: { enable_thinking: false },
    });
    expect(chats[0].body.messages).toEqual([
      { role: 'system', content: 'Follow the spec.' },
      { role: 'user', content: 'question 0' },
    ]);
    expect(new Set(chats.map((c) => c.body.seed)).size).toBe(10); // one seed per prompt
    const lines = samples(evalKeyOf(req));
    expect(lines).toHaveLength(20);
    expect(lines.slice(0, 2)).toEqual([
      { promptId: 'p0', sample: 0, text: expect.stringContaining('#0'), finishReason: 'stop', promptTokens: 11 },
      { promptId: 'p0', sample: 1, text: expect.stringContaining('#1'), finishReason: 'length', promptTokens: 11 },
    ]);
    expect(readFileSync(path.join(root, 'store', evalKeyOf(req), 'samples', 'COMPLETE'), 'utf8')).toBe('ok\n');
  });

  it("loads a LoRA cell's adapter once (vLLM's run-time loading) and asks for it by name", async () => {
    const folder = adapterFolder('aft-msm');
    await run(request(pathToFileURL(folder).href, {}, { samplesPerPrompt: 1 }));
    await run(request(pathToFileURL(folder).href, {}, { samplesPerPrompt: 3 })); // another key: loaded already
    const loads = seen.filter((s) => s.path === '/v1/load_lora_adapter');
    expect(loads).toHaveLength(2);
    expect(loads[0].body).toEqual({ lora_name: expect.stringMatching(/^msm-[0-9a-f]{16}$/), lora_path: folder });
    const chats = seen.filter((s) => s.path === '/v1/chat/completions');
    expect(chats.every((c) => c.body.model === loads[0].body.lora_name)).toBe(true);
  });

  it('refuses a full-weight cell with vLLM adapters, and asks a path server for the folder itself', async () => {
    const full = adapterFolder('aft-full', false);
    const e = await run(request(pathToFileURL(full).href)).then(
      () => undefined,
      (x: unknown) => x as ApplicationFailure,
    );
    expect(e?.nonRetryable).toBe(true);
    expect(e?.message).toMatch(/is a full-weight model: serve it and use eval.engine.adapters "path"/);
    await run(request(pathToFileURL(full).href, { adapters: 'path', batchSamples: false }));
    const chats = seen.filter((s) => s.path === '/v1/chat/completions');
    expect(chats).toHaveLength(20); // one request per sample
    expect(chats.every((c) => c.body.model === full && c.body.n === undefined)).toBe(true);
  });

  it('a retried activity asks only for the batches of prompts not stored yet', async () => {
    const req = request(null, { concurrency: 1 }, { samplesPerPrompt: 1, maxNewTokens: 9 });
    faults.failOn = 'question 8'; // the first batch (8 prompts) is stored, the second fails
    const first = await run(req).then(
      () => undefined,
      (x: unknown) => x as ApplicationFailure,
    );
    expect(first?.nonRetryable).toBe(false); // a 503: Temporal retries
    seen.length = 0;
    faults.failOn = undefined;
    // eight prompts answered before the failure were kept: the retry asks for the second batch only
    await run(req);
    expect(seen.map((s) => (s.body.messages as Array<{ content: string }>)[0].content)).toEqual([
      'question 8',
      'question 9',
    ]);
    expect(samples(evalKeyOf(req)).map((l) => l.promptId)).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}`));
  });

  it('a server that ignores n is named, not averaged over', async () => {
    faults.ignoreN = true;
    const e = (await run(request(null, {}, { maxNewTokens: 7 })).then(
      () => undefined,
      (x: unknown) => x,
    )) as ApplicationFailure;
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toMatch(/returned 1 of the 2 samples asked for.*batchSamples: false/);
  });

  it('a choice without text (vLLM moving the reasoning out under --reasoning-parser) says how to serve it', async () => {
    faults.noContentOn = 'question 2';
    const e = (await run(request(null, {}, { maxNewTokens: 5 })).then(
      () => undefined,
      (x: unknown) => x,
    )) as ApplicationFailure;
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toMatch(/without text content: serve the model without a reasoning parser/);
  });

  it('at temperature 0 asks once per prompt and copies the answer, as the trainer does', async () => {
    const req = request(null, {}, { temperature: 0, temperatureOverride: true, samplesPerPrompt: 3 });
    await run(req);
    const chats = seen.filter((s) => s.path === '/v1/chat/completions');
    expect(chats).toHaveLength(10);
    expect(chats[0].body.n).toBeUndefined();
    const lines = samples(evalKeyOf(req)).filter((l) => l.promptId === 'p0');
    expect(lines.map((l) => l.sample)).toEqual([0, 1, 2]);
    expect(new Set(lines.map((l) => l.text)).size).toBe(1);
  });

  it('refuses a key variable off the allowlist before reading it or asking the server', async () => {
    const e = (await run(request(null, { apiKeyEnv: 'AWS_SECRET_ACCESS_KEY' }, { maxNewTokens: 4 })).then(
      () => undefined,
      (x: unknown) => x,
    )) as ApplicationFailure;
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toMatch(/eval\.engine\.apiKeyEnv: the workers do not read API keys from AWS_SECRET_ACCESS_KEY/);
    expect(seen).toEqual([]);
  });

  it('refuses vLLM adapters on an S3 store before anything starts', () => {
    expect(() =>
      parseExperiment({
        name: 'x',
        spec: 'specs/demo.md',
        store: 's3://bucket/msm',
        aft: { data: 'unused.jsonl' },
        eval: { prompts: 'unused.jsonl', engine: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } },
      }),
    ).toThrow(/loads each cell's adapter from the server's own disk, and the store is on S3/);
  });

  it('refuses eval.engine beside an Inspect task', () => {
    expect(() =>
      parseExperiment({
        name: 'x',
        spec: 'specs/demo.md',
        aft: { data: 'unused.jsonl' },
        eval: {
          inspect: {},
          judge: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', model: 'j' },
          engine: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' },
        },
      }),
    ).toThrow(/eval.engine samples the lines of an eval-set file/);
  });
});
