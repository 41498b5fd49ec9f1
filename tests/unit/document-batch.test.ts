import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDocumentsInBatches, type PlannedDocument } from '../../src/corpus/document-batch';
import { createAnthropicBatchClient } from '../../src/llm/batch/anthropic-batch';
import type { BatchClient } from '../../src/llm/batch/batch-client';
import { createOpenAiBatchClient } from '../../src/llm/batch/openai-batch';
import { stripScratchpad } from '../../src/llm/json-output';
import type { CompletionResult } from '../../src/llm/provider';
import { FsArtifactStore } from '../../src/store/fs-store';
import { readJson } from '../../src/store/json';
import { startScriptedAnthropicServer } from '../helpers/scripted-anthropic-server';
import type { ScriptedBatchBook } from '../helpers/scripted-batches';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';

const items = (n: number, tag: string): PlannedDocument[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `u0000-t00-i${String(i).padStart(2, '0')}`,
    key: `c/docs/u0000-t00-i${String(i).padStart(2, '0')}.json`,
    request: {
      messages: [
        { role: 'system', content: `<spec>Be honest (${tag}).</spec>` },
        { role: 'user', content: `Document ${i}: write it inside <content></content>.` },
      ],
      maxTokens: 100,
      temperature: 0.9,
    },
  }));

const toDocument = (item: PlannedDocument, res: CompletionResult) => {
  const c = stripScratchpad(res.text);
  return { id: item.id, text: c.text, truncated: c.truncated || res.finishReason === 'length', usage: res.usage };
};

/** Both wire formats, through our batch clients (the Anthropic one through the real SDK). */
const apis = [
  {
    name: 'Anthropic Message Batches',
    async start() {
      const s = await startScriptedAnthropicServer();
      return {
        book: s.batches as ScriptedBatchBook<unknown>,
        client: createAnthropicBatchClient({ model: 'claude-scripted', apiKey: 'k', baseUrl: s.url, timeoutMs: 1000 }),
        s,
      };
    },
  },
  {
    name: 'OpenAI Batch API',
    async start() {
      const s = await startScriptedLlmServer();
      return {
        book: s.batches as ScriptedBatchBook<unknown>,
        client: createOpenAiBatchClient({ baseUrl: s.baseUrl, model: 'gpt-scripted', apiKey: 'k', timeoutMs: 1000 }),
        s,
      };
    },
  },
];

describe.each(apis)('documents through the $name', (api) => {
  let env: Awaited<ReturnType<(typeof apis)[number]['start']>>;
  beforeAll(async () => {
    env = await api.start();
    env.book.batchMs = 150;
  });
  afterAll(() => env.s.close());

  const deps = (store: FsArtifactStore, over: Partial<Parameters<typeof writeDocumentsInBatches>[1]> = {}) => ({
    store,
    client: env.client,
    price: { inputPerMillion: 1e6, outputPerMillion: 1e6, batchDiscount: 0.5 },
    recordPrefix: 'c/batches/u0000-u0001',
    pollMs: 30,
    toDocument,
    completeOne: () => Promise.reject(new Error('no single call expected')),
    heartbeat: () => undefined,
    ...over,
  });

  it('one batch for the missing documents; lost polls, errored, expired and truncated items retried in follow-up batches', async () => {
    const store = new FsArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'msm-batch-')));
    const before = env.book.items.length;
    const batchesBefore = env.book.batches.size;
    env.book.pollFaults = [{ type: 'http', status: 500 }, { type: 'drop' }, { type: 'hang' }];
    // Item 1 errors once, item 2 expires once, item 3 comes back truncated once.
    env.book.itemFault = (id, nth) =>
      nth > 1
        ? null
        : id.endsWith('i01')
          ? 'errored'
          : id.endsWith('i02')
            ? 'expired'
            : id.endsWith('i03')
              ? 'truncate'
              : null;
    const beats: unknown[] = [];
    const out = await writeDocumentsInBatches(
      items(5, api.name),
      deps(store, { heartbeat: (d: unknown) => void beats.push(d) }),
    );
    expect(out).toMatchObject({ generated: 5, truncated: 0, batches: 2, itemRetries: 3, llmCalls: 8 });
    expect(env.book.items.length - before).toBe(8); // 5 + the 3 that failed, each sent once more
    expect(env.book.batches.size - batchesBefore).toBe(2);
    expect(beats.some((b) => (b as { batchId?: string; status?: string }).status?.startsWith('poll failed'))).toBe(
      true,
    );
    for (const it of items(5, api.name)) {
      const doc = await readJson<{ text: string; truncated: boolean }>(store, it.key);
      expect(doc.truncated).toBe(false);
      expect(doc.text).toMatch(/^Scripted reply/);
    }
    // Every batch item's cost has the batch discount: half of one dollar a token.
    const docs = await Promise.all(
      items(5, api.name).map((i) =>
        readJson<{
          usage: { inputTokens: number; outputTokens: number; cacheReadTokens?: number; cacheWriteTokens?: number };
        }>(store, i.key),
      ),
    );
    expect(out.usage.costUsd).toBeGreaterThan(0);
    expect(out.usage.calls).toBe(6); // 5 written + 1 truncated answer paid and regenerated
    const written = docs.reduce(
      (s, d) =>
        s +
        d.usage.inputTokens +
        (d.usage.cacheReadTokens ?? 0) +
        (d.usage.cacheWriteTokens ?? 0) +
        d.usage.outputTokens,
      0,
    );
    expect(out.usage.costUsd).toBeGreaterThan(written * 0.5 - 1e-9);
    expect(out.usage.costUsd).toBeLessThan(written); // discounted

    // A second run finds everything written and pays nothing.
    const again = await writeDocumentsInBatches(items(5, api.name), deps(store));
    expect(again).toMatchObject({ generated: 0, llmCalls: 0, batches: 0 });
  });

  it('resumes polling the stored batch after a crash instead of submitting again', async () => {
    const store = new FsArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'msm-batch-')));
    env.book.itemFault = () => null;
    env.book.held = true;
    const batchesBefore = env.book.batches.size;
    // The "worker" dies at its first heartbeat after submitting.
    const crash = await writeDocumentsInBatches(
      items(3, `${api.name} resume`),
      deps(store, {
        heartbeat: (d: unknown) => {
          if ((d as { status?: string }).status === 'submitted') throw new Error('worker killed');
        },
      }),
    ).catch((e: Error) => e);
    expect(String(crash)).toMatch(/worker killed/);
    expect(env.book.batches.size - batchesBefore).toBe(1);
    const latest = await readJson<{ key: string }>(store, 'c/batches/u0000-u0001/latest.json');
    const rec = await readJson<{ batchId: string; done: boolean }>(store, latest.key);
    expect(rec.done).toBe(false);
    setTimeout(() => (env.book.held = false), 200);
    const out = await writeDocumentsInBatches(items(3, `${api.name} resume`), deps(store));
    expect(env.book.batches.size - batchesBefore).toBe(1); // the same batch, polled to its end
    expect(out).toMatchObject({ generated: 3, batches: 0, llmCalls: 3 });
  }, 20_000);

  it('writes what no batch round delivered by single calls, and keeps a last-round truncation flagged', async () => {
    const store = new FsArtifactStore(mkdtempSync(path.join(os.tmpdir(), 'msm-batch-')));
    env.book.held = false;
    env.book.itemFault = (id) => (id.endsWith('i00') ? 'errored' : id.endsWith('i01') ? 'truncate' : null);
    const single: string[] = [];
    const client: BatchClient = env.client;
    const out = await writeDocumentsInBatches(
      items(2, `${api.name} rounds`),
      deps(store, {
        client,
        completeOne: async (req) => {
          single.push(req.messages[1].content);
          return {
            text: '<content>single</content>',
            finishReason: 'stop',
            usage: { inputTokens: 1, outputTokens: 1 },
            model: 'm',
          };
        },
      }),
    );
    expect(single).toHaveLength(1);
    expect(out).toMatchObject({ generated: 2, truncated: 1, batches: 3, llmCalls: 3 * 2 + 1 });
    expect((await readJson<{ truncated: boolean }>(store, 'c/docs/u0000-t00-i01.json')).truncated).toBe(true);
    expect((await readJson<{ text: string }>(store, 'c/docs/u0000-t00-i00.json')).text).toBe('single');
  }, 20_000);
});
