import { Client, Connection } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorpusDocument, CorpusJob } from '../../src/corpus/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import { readJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';
import { corpusGeneration, corpusProgressQuery } from '../../src/workflows';
import { startScriptedAnthropicServer } from '../helpers/scripted-anthropic-server';
import { startScriptedLlmServer, type LlmFault, type RecordedRequest } from '../helpers/scripted-llm-server';
import { scriptedExperiment, waitUntil } from '../helpers/scripted-experiment';
import { TestTemporalServer } from '../helpers/temporal-server';
import { WorkerProcess } from '../helpers/worker-process';

type Anthropic = Awaited<ReturnType<typeof startScriptedAnthropicServer>>;

/**
 * Issue 3's "done when" on a real Temporal server, with the workers in a subprocess: a corpus through the
 * Anthropic provider (planning stages by single calls, documents through the Message Batches API) survives
 * every injected fault and a worker killed while its batch is in flight; it pays for exactly one extra call
 * per fault, submits no batch twice, and its corpus hash equals that of an undisturbed run.
 */
describe('corpus generation under injected faults (Anthropic, batch mode)', () => {
  let server: TestTemporalServer;
  let client: Client;
  const workers: WorkerProcess[] = [];
  const env = {
    MSM_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), 'msm-state-')),
    SCRIPTED_ANTHROPIC_KEY: 'sk-ant-scripted',
  };

  beforeAll(async () => {
    server = await TestTemporalServer.start();
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.kill();
    await client?.connection.close();
    await server?.down();
  });

  const startWorker = async () => {
    const w = await WorkerProcess.start(server.address, env);
    workers.push(w);
    return w;
  };

  async function corpusJob(name: string, llm: Anthropic): Promise<CorpusJob> {
    const { input, store: root } = scriptedExperiment(name, 'http://unused');
    const provider = {
      kind: 'anthropic',
      model: 'claude-scripted',
      apiKeyEnv: 'SCRIPTED_ANTHROPIC_KEY',
      baseUrl: llm.url,
      timeoutMs: 1500,
      price: {
        inputPerMillion: 3,
        outputPerMillion: 15,
        cacheWritePerMillion: 3.75,
        cacheReadPerMillion: 0.3,
        batchDiscount: 0.5,
      },
    };
    // 2 units x 2 types x 2 ideas = 8 documents; one unit per activity, so two batches are in flight at once.
    const generation = {
      ...input.generation,
      provider,
      domains: 1,
      maxUnits: 2,
      batchUnits: 1,
      concurrency: 2,
      batch: true,
      batchPollSeconds: 0.2,
    };
    const x = parseExperiment({ ...input, generation });
    const store = openStore(root);
    await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));
    return { storeUri: store.rootUri, specKey: 'inputs/spec.md', specHash: 'faults', generation: x.generation };
  }

  it('completes through 429/529/5xx, timeouts, truncated and malformed output, a usage limit, lost polls and a killed worker, with the undisturbed hash', async () => {
    let worker = await startWorker();

    // Undisturbed run.
    const calm = await startScriptedAnthropicServer();
    calm.batches.batchMs = 300;
    const calmManifest = await client.workflow.execute(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'faults-calm',
      args: [await corpusJob('calm', calm)],
    });
    const documents = calm.batches.items.length;
    expect(documents).toBe(8);
    expect(calmManifest.documents).toBe(8);
    expect(calm.batches.batches.size).toBe(2);
    const calmSingles = calm.requests.length;

    // Disturbed run: the first attempts of each planning prompt (1 domains, 2 types, 4 ideas) meet faults.
    const llm = await startScriptedAnthropicServer();
    llm.batches.batchMs = 300;
    const plan: LlmFault[][] = [
      [
        { type: 'http', status: 429, headers: { 'retry-after': '1' } },
        { type: 'http', status: 529 },
      ],
      [{ type: 'http', status: 500 }],
      [{ type: 'hang' }],
      [{ type: 'truncate' }],
      [{ type: 'wrongContent', content: '{"types": ["unclosed' }],
      [{ type: 'malformedBody' }],
      [
        {
          type: 'http',
          status: 402,
          body: JSON.stringify({ type: 'error', error: { type: 'billing_error', message: 'usage limit reached' } }),
        },
      ],
    ];
    const injected = plan.flat().length;
    const attempts = new Map<string, number>();
    let faulted = 0;
    llm.setFaults((r: RecordedRequest) => {
      const prompt = createHash('sha256').update(JSON.stringify(r.body.messages)).digest('hex');
      if (!attempts.has(prompt)) attempts.set(prompt, 0);
      const n = attempts.get(prompt)!;
      attempts.set(prompt, n + 1);
      const fault = plan[[...attempts.keys()].indexOf(prompt)]?.[n] ?? null;
      if (fault) faulted++;
      return fault;
    });
    // Batch faults: two lost polls, and one item each errored, expired and truncated on first submission.
    llm.batches.pollFaults = [{ type: 'http', status: 503 }, { type: 'drop' }];
    llm.batches.itemFault = (id, nth) =>
      nth > 1
        ? null
        : id === 'u0000-t00-i00'
          ? 'errored'
          : id === 'u0000-t01-i01'
            ? 'expired'
            : id === 'u0001-t00-i01'
              ? 'truncate'
              : null;
    llm.batches.held = true;

    const job = await corpusJob('faults', llm);
    const handle = await client.workflow.start(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'faults-disturbed',
      args: [job],
    });
    await waitUntil(() => llm.batches.batches.size === 2, 180_000, 'both document batches to be submitted');
    const store = openStore(job.storeUri);
    await waitUntil(
      async () => (await store.list('corpus/')).filter((k) => k.endsWith('/latest.json')).length === 2,
      10_000,
      'the batch ids to be stored',
    );
    await new Promise((r) => setTimeout(r, 500)); // a poll or two against the held batch
    await worker.kill(); // the worker dies with both batches in flight
    worker = await startWorker();
    llm.batches.held = false;

    const manifest = await handle.result();
    const progress = await handle.query(corpusProgressQuery);

    expect(faulted).toBe(injected); // every planned fault was injected
    expect(manifest.hash).toBe(calmManifest.hash);
    expect(manifest.documents).toBe(8);
    // Batches: one per range (resumed after the kill, never submitted again) and one follow-up per range for
    // its failed items (errored + expired in unit 0, truncated in unit 1).
    expect(llm.batches.batches.size).toBe(4);
    expect(llm.batches.items.length).toBe(documents + 3);
    expect(llm.batches.polls).toBeGreaterThan(2);
    // Single calls: the undisturbed ones plus exactly one retry per injected fault.
    expect(llm.requests.length).toBe(calmSingles + injected);
    // LLM calls <= documents + in-flight retries (the planning calls and one retry per fault or failed item).
    expect(llm.calls()).toBe(calm.calls() + injected + 3);
    // The document stage's cost has the batch discount and counts the truncated answer that was paid.
    expect(progress.usage.costUsd).toBeGreaterThan(0);
    expect(manifest.documentUsage.costUsd).toBeCloseTo(calmManifest.documentUsage.costUsd, 9);
    // Every document was priced from its own usage: the spec read from the prompt cache, at the batch discount.
    let input = 0;
    for (const k of (await store.list(`${manifest.manifestKey.split('/assembled-')[0]}/docs/`)).filter((k) =>
      k.endsWith('.json'),
    )) {
      const { usage: u } = await readJson<CorpusDocument>(store, k);
      expect(u.cacheReadTokens).toBeGreaterThan(0);
      expect(u.costUsd).toBeCloseTo(
        ((u.inputTokens * 3 + u.cacheReadTokens! * 0.3 + u.cacheWriteTokens! * 3.75 + u.outputTokens * 15) / 1e6) * 0.5,
        12,
      );
      input += u.inputTokens + u.cacheReadTokens! + u.cacheWriteTokens!;
    }
    expect(manifest.documentUsage.inputTokens).toBe(input);
    await calm.close();
    await llm.close();
  }, 400_000);

  it('OpenAI Batch API: the same corpus as single calls, through a lost poll and an errored item', async () => {
    if (!workers.some((w) => w.child.exitCode === null && w.child.signalCode === null)) await startWorker();
    const llm = await startScriptedLlmServer();
    llm.batches.batchMs = 300;
    const job = async (name: string, batch: boolean): Promise<CorpusJob> => {
      const { input, store: root } = scriptedExperiment(name, llm.baseUrl);
      const x = parseExperiment({
        ...input,
        generation: { ...input.generation, domains: 1, maxUnits: 2, batchUnits: 2, batch, batchPollSeconds: 0.2 },
      });
      const store = openStore(root);
      await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));
      return { storeUri: store.rootUri, specKey: 'inputs/spec.md', specHash: 'openai-batch', generation: x.generation };
    };
    const single = await client.workflow.execute(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'openai-single',
      args: [await job('single', false)],
    });
    const singleCalls = llm.requests.length;
    llm.batches.pollFaults = [{ type: 'http', status: 502 }];
    llm.batches.itemFault = (id, nth) => (nth === 1 && id === 'u0001-t01-i00' ? 'errored' : null);
    const batched = await client.workflow.execute(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'openai-batch',
      args: [await job('batched', true)],
    });
    expect(batched.documents).toBe(8);
    expect(batched.hash).toBe(single.hash);
    expect(llm.batches.batches.size).toBe(2); // the range's batch and one follow-up for the errored item
    expect(llm.batches.items.length).toBe(8 + 1);
    // Each run has its own store: the batched run repeats the planning calls but writes no document by a single call.
    expect(llm.requests.length - singleCalls).toBe(singleCalls - 8);
    await llm.close();
  }, 300_000);
});
