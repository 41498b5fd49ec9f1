import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customIdOf } from '../../src/eval/judge-batch';
import type { Judgment } from '../../src/eval/judge-sample';
import type { EvalRequest, SamplesRef } from '../../src/eval/types';
import { FsArtifactStore } from '../../src/store/fs-store';
import { readJson } from '../../src/store/json';
import { judgeOnly } from '../helpers/judge-workflow';
import { startScriptedAnthropicServer } from '../helpers/scripted-anthropic-server';
import type { ScriptedBatchBook } from '../helpers/scripted-batches';
import { waitUntil } from '../helpers/scripted-experiment';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { TestTemporalServer } from '../helpers/temporal-server';
import { WorkerProcess } from '../helpers/worker-process';
import { JUDGED_LINES, JUDGED_SAMPLES } from '../helpers/judge-request';

/**
 * Issue 22's done-when: a batch-judged cell (eval.judge.batch) survives a worker SIGKILL without paying twice.
 * On a real Temporal server, judgeSamples runs (through the production activity proxy) in a real msm-llm worker
 * process against scripted batch APIs: two cells at once, one judged through Anthropic's Message Batches and one
 * through OpenAI's Batch API. The worker is SIGKILLed once both batches are submitted and being polled, while
 * they are still pending; a new worker process takes the activities' retries and finishes each cell from its
 * batch id: one batch per cell, each sample submitted once, no single call, every verdict stored once with the
 * batch's answer, and each cell's k of n counted from them.
 * The kill comes after the batch id is stored (it is, before the first poll); a death in the moment between the
 * provider accepting a batch and its id being stored is not covered here: the retry would submit again.
 * (The activity alone, cancelled in-process: tests/unit/judge-batch.test.ts.)
 */
const TASK_QUEUE = 'judge-batch-kill-test';
const KEY_ENV = 'MSM_TEST_JUDGE_BATCH_KILL_KEY';
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-judge-batch-kill-'));
const store = new FsArtifactStore(pathToFileURL(root).href);

const lines = JUDGED_LINES;
const samples = JUDGED_SAMPLES;
const price = { inputPerMillion: 3, outputPerMillion: 15, batchDiscount: 0.5 };

let server: TestTemporalServer;
let anthropic: Awaited<ReturnType<typeof startScriptedAnthropicServer>>;
let openai: Awaited<ReturnType<typeof startScriptedLlmServer>>;
let connection: NativeConnection;
let client: Client;
let workflowWorker: Worker;
let running: Promise<void>;
const workers: WorkerProcess[] = [];
const env = { [KEY_ENV]: 'sk-test', MSM_STATE_DIR: path.join(root, 'state') };
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error };

beforeAll(async () => {
  const [s, bundle] = await Promise.all([
    TestTemporalServer.start(),
    bundleWorkflowCode({ workflowsPath: path.join(__dirname, '..', 'helpers', 'judge-workflow.ts'), logger: quiet }),
  ]);
  server = s;
  anthropic = await startScriptedAnthropicServer();
  openai = await startScriptedLlmServer();
  // The test's workflow runs here; the judging activity only in the worker processes, so a kill takes it down.
  connection = await NativeConnection.connect({ address: server.address });
  workflowWorker = await Worker.create({ connection, taskQueue: TASK_QUEUE, workflowBundle: bundle });
  running = workflowWorker.run();
  client = new Client({ connection: await Connection.connect({ address: server.address }) });
  await store.put('inputs/eval.jsonl', lines.map((l) => JSON.stringify(l)).join('\n'));
}, 120_000);

afterAll(async () => {
  for (const w of workers) await w.kill();
  workflowWorker?.shutdown();
  await running;
  await connection?.close();
  await client?.connection.close();
  await server?.down();
  await anthropic?.close();
  await openai?.close();
  rmSync(root, { recursive: true, force: true });
});

/** The real worker entry point serving msm-llm alone: the queue the judging activity runs on. */
async function startLlmWorker(): Promise<WorkerProcess> {
  const w = await WorkerProcess.start(server.address, env, ['--queues', 'msm-llm']);
  workers.push(w);
  return w;
}

/** One cell judged through one provider's batch API: its scripted server's books and how to read its answers. */
interface Cell {
  name: string;
  judge: Record<string, unknown>;
  book: ScriptedBatchBook<unknown>;
  /** Single (full-price) calls the server answered. */
  singles: () => number;
  /** The verdict in a batch item's answer, or null where the item failed. */
  verdictOf: (outcome: unknown) => string | null;
}

function anthropicCell(): Cell {
  return {
    name: 'anthropic',
    judge: { kind: 'anthropic', model: 'claude-judge', apiKeyEnv: KEY_ENV, baseUrl: anthropic.url },
    book: anthropic.batches as ScriptedBatchBook<unknown>,
    singles: () => anthropic.requests.length,
    verdictOf: (o) => {
      const out = o as { type: string; message?: { content: { type: string; input?: Answer; text?: string }[] } };
      if (out.type !== 'succeeded') return null;
      const block = out.message!.content[0];
      return block.type === 'tool_use' ? block.input!.verdict : (JSON.parse(block.text!) as Answer).verdict;
    },
  };
}

function openaiCell(): Cell {
  return {
    name: 'openai',
    judge: { kind: 'openai', model: 'gpt-judge', apiKeyEnv: KEY_ENV, baseUrl: openai.baseUrl },
    book: openai.batches as ScriptedBatchBook<unknown>,
    singles: () => openai.requests.length,
    verdictOf: (o) => {
      const out = o as { ok: boolean; line: string };
      if (!out.ok) return null;
      const line = JSON.parse(out.line) as { response: { body: { choices: { message: { content: string } }[] } } };
      return (JSON.parse(line.response.body.choices[0].message.content) as Answer).verdict;
    },
  };
}

type Answer = { verdict: string };

function requestFor(cell: Cell): EvalRequest {
  return {
    storeUri: store.rootUri,
    label: cell.name,
    modelUri: null,
    tokenizerUri: 'file:///tok',
    evalSet: { key: 'inputs/eval.jsonl', sha256: 'e', prompts: lines.length },
    experiment: {
      eval: {
        judge: { ...cell.judge, timeoutMs: 10_000, price, batch: true, batchPollSeconds: 0.2 },
        judgeConcurrency: 4,
        judgeAttempts: 3,
      },
    },
    seed: 0,
  } as unknown as EvalRequest;
}

describe('batch judging across a worker SIGKILL, on a real Temporal server', () => {
  it("the killed worker's batches are resumed by a new worker: one batch a cell, nothing submitted or paid twice, k of n right", async () => {
    const cells = [anthropicCell(), openaiCell()];
    for (const c of cells) c.book.held = true; // the batches stay pending until the first worker is dead
    const started = Date.now();
    let worker = await startLlmWorker();
    const runs = [];
    for (const c of cells) {
      const ref: SamplesRef = {
        evalKey: `evals/${c.name}`,
        samplesKey: `evals/${c.name}/samples.jsonl`,
        samplesUri: 'file:///s',
        samples: samples.length,
      };
      await store.put(ref.samplesKey, samples.map((s) => JSON.stringify(s)).join('\n'));
      const handle = await client.workflow.start(judgeOnly, {
        taskQueue: TASK_QUEUE,
        workflowId: `judge-batch-kill-${c.name}`,
        args: [requestFor(c), ref],
        workflowExecutionTimeout: '2m',
      });
      runs.push({ cell: c, handle });
    }
    // Submitted, and polled: the activity writes the batch id to the store before its first poll.
    await waitUntil(
      () => cells.every((c) => c.book.batches.size === 1 && c.book.polls >= 2),
      60_000,
      'both judge batches to be polled',
    );
    const pollsAtKill = cells.map((c) => c.book.polls);
    await worker.kill();
    const killedAt = Date.now();
    // Nothing judged yet: every verdict must come from the pending batches.
    expect((await store.list('evals/')).filter((k) => /\/(mail|weather|refund)-\d\.json$/.test(k))).toEqual([]);

    // The batches end while no worker holds the activities; a new worker process takes their retries (after
    // the heartbeat timeout) and must read these batches rather than submit the samples again.
    for (const c of cells) c.book.held = false;
    worker = await startLlmWorker();
    const summaries = await Promise.all(runs.map((r) => r.handle.result()));
    const resumedIn = Date.now() - killedAt;

    for (const [i, { cell: c, handle }] of runs.entries()) {
      const summary = summaries[i];
      const prefix = summary.judgmentsPrefix.slice(store.rootUri.replace(/\/$/, '').length + 1);
      const keyOf = (s: (typeof samples)[number]) => `${prefix}/${s.promptId}-${s.sample}.json`;
      // Exactly one batch, each sample in it once, and nothing judged by a single (full-price) call.
      expect(c.book.batches.size).toBe(1);
      expect(c.book.items.map((it) => it.customId).sort()).toEqual(samples.map((s) => customIdOf(keyOf(s))).sort());
      expect(c.singles()).toBe(0);
      expect(c.book.polls).toBeGreaterThan(pollsAtKill[i]); // the new worker polled the same batch

      // The activity did die with the first worker: its completed attempt is the retry.
      const history = await handle.fetchHistory();
      const attempts = history
        .events!.filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(attempts).toEqual([2]);

      // The record the retry resumed from names the one batch, read to the end.
      const batch = [...c.book.batches.values()][0];
      const pointer = await readJson<{ key: string }>(store, `${prefix}/batches/latest.json`);
      expect(await readJson(store, pointer.key)).toMatchObject({ batchId: batch.id, done: true });

      // Every verdict stored is the batch's answer for its sample, priced at the batch discount; k of n from them.
      const answers = new Map(batch.outcomes.map((o) => [o.customId, c.verdictOf(o.outcome)]));
      let violates = 0;
      let cost = 0;
      for (const s of samples) {
        const j = await readJson<Judgment>(store, keyOf(s));
        expect(j.verdict).toBe(answers.get(customIdOf(keyOf(s))));
        expect(j.usage!.costUsd).toBeCloseTo((0.5 * (j.usage!.inputTokens * 3 + j.usage!.outputTokens * 15)) / 1e6, 12);
        if (j.verdict === 'violates') violates++;
        cost += j.usage!.costUsd;
      }
      expect(summary).toMatchObject({ k: violates, n: samples.length, unjudged: 0 });
      expect(summary.judgeUsage!.calls).toBe(samples.length);
      expect(summary.judgeUsage!.costUsd).toBeCloseTo(cost, 12);
    }
    console.log(
      `judge-batch-kill: ${Date.now() - started} ms in all, resumed ${resumedIn} ms after the kill; ` +
        summaries.map((s, i) => `${cells[i].name} k=${s.k} n=${s.n}`).join(', '),
    );
  }, 150_000);
});
