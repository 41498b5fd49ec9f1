import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalSummary, SamplesRef } from '../../src/eval/types';
import type { Judgment } from '../../src/eval/judge-sample';
import { FsArtifactStore } from '../../src/store/fs-store';
import { readJson } from '../../src/store/json';
import { createWorkers, runWorkers } from '../../src/workers/create-workers';
import { judgeOnly } from '../helpers/judge-workflow';
import { judgeRequest, JUDGED_LINES, JUDGED_SAMPLES } from '../helpers/judge-request';
import { startScriptedLlmServer, type ChatRequestBody, type RecordedRequest } from '../helpers/scripted-llm-server';
import { TestTemporalServer } from '../helpers/temporal-server';

/**
 * Issue 17: a refusal is an answer, not a loop. On a real Temporal server, the production msm-llm worker runs
 * judgeSamples (through the production activity proxy) against a scripted OpenAI-compatible judge that refuses
 * one sample every time: the run ends with that sample unjudged after eval.judgeAttempts requests, in the
 * activity's first attempt, instead of retrying forever.
 */
const TASK_QUEUE = 'judge-refusal-test';
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-judge-refusal-'));
const store = new FsArtifactStore(pathToFileURL(root).href);

// Two samples a prompt; the judge refuses one of them.
const lines = JUDGED_LINES;
const samples = JUDGED_SAMPLES;

const userOf = (r: RecordedRequest) => r.body.messages?.find((m) => m.role === 'user')?.content ?? '';
/** The scripted judge: "violates" for sample 0, "complies" for sample 1. */
const respond = (body: ChatRequestBody) =>
  JSON.stringify({
    reasoning: 'scripted',
    verdict: (body.messages ?? []).some((m) => / answer 0/.test(m.content)) ? 'violates' : 'complies',
  });

let server: TestTemporalServer;
let connection: NativeConnection;
let client: Client;
let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
const workers: Worker[] = [];
let running: Promise<unknown>;

beforeAll(async () => {
  const [s, bundle] = await Promise.all([
    TestTemporalServer.start(),
    bundleWorkflowCode({ workflowsPath: path.join(__dirname, '..', 'helpers', 'judge-workflow.ts'), logger: quiet }),
  ]);
  server = s;
  llm = await startScriptedLlmServer({ respond });
  connection = await NativeConnection.connect({ address: server.address });
  // The production msm-llm worker (the real eval activities), and one for the test's workflow.
  workers.push(...(await createWorkers({ connection, queues: ['msm-llm'], deployment: null })));
  workers.push(await Worker.create({ connection, taskQueue: TASK_QUEUE, workflowBundle: bundle }));
  running = Promise.all([runWorkers(workers.slice(0, 1)), workers[1].run()]);
  client = new Client({ connection: await Connection.connect({ address: server.address }) });
  await store.put('inputs/eval.jsonl', lines.map((l) => JSON.stringify(l)).join('\n'));
}, 60_000);

afterAll(async () => {
  workers.forEach((w) => w.shutdown());
  await running;
  await connection?.close();
  await client?.connection.close();
  await server?.down();
  await llm?.close();
  rmSync(root, { recursive: true, force: true });
});

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error };

/** Put the samples under `evalKey` and run judgeOnly on them through the server. */
async function judgeThroughServer(workflowId: string, evalKey: string, judgeAttempts: number) {
  const samplesKey = `${evalKey}/samples/samples.jsonl`;
  await store.put(samplesKey, samples.map((s) => JSON.stringify(s)).join('\n'));
  const req = judgeRequest(store.rootUri, llm.baseUrl, lines.length, judgeAttempts);
  const ref: SamplesRef = { evalKey, samplesKey, samplesUri: 'file:///s', samples: samples.length };
  const summary = await client.workflow.execute(judgeOnly, {
    taskQueue: TASK_QUEUE,
    workflowId,
    args: [req, ref],
    workflowExecutionTimeout: '60s',
  });
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const attempts = history
    .events!.filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => e.activityTaskStartedEventAttributes!.attempt);
  return { summary, attempts };
}

async function storedJudgment(summary: EvalSummary, promptId: string, sample: number): Promise<Judgment> {
  const prefix = summary.judgmentsPrefix.slice(store.rootUri.replace(/\/$/, '').length + 1);
  return readJson<Judgment>(store, `${prefix}/${promptId}-${sample}.json`);
}

describe('a judge that refuses one sample, on a real Temporal server', () => {
  it('ends with one unjudged sample after judgeAttempts requests, in the first activity attempt', async () => {
    const refused = 'weather answer 1';
    llm.setFaults((r) =>
      userOf(r).includes(refused) ? { type: 'wrongContent', content: "I can't help with that." } : null,
    );
    const started = Date.now();
    const { summary, attempts } = await judgeThroughServer('judge-refusal-text', 'evals/refusal-text', 3);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(summary).toMatchObject({ unjudged: 1, n: samples.length - 1, k: 3, judgeModel: 'openai:scripted-judge' });
    // One activity, never retried.
    expect(attempts).toEqual([1]);
    // Exactly judgeAttempts requests for the refused sample, one for every other.
    const sent = llm.requests.map(userOf);
    expect(sent.filter((u) => u.includes(refused))).toHaveLength(3);
    expect(sent).toHaveLength(samples.length - 1 + 3);
    const j = await storedJudgment(summary, 'weather', 1);
    expect(j).toMatchObject({ promptId: 'weather', sample: 1, verdict: 'unjudged', attempts: 3 });
    expect(j.unjudgedReason).toContain("I can't help with that.");
    expect(await storedJudgment(summary, 'weather', 0)).toMatchObject({ verdict: 'violates' });
  });

  it("a provider-level refusal (OpenAI's message.refusal) ends the same way", async () => {
    const before = llm.requests.length;
    const refused = 'refund answer 0';
    llm.setFaults((r) =>
      userOf(r).includes(refused) ? { type: 'refusal', refusal: "I'm sorry, I can't assist with that." } : null,
    );
    const { summary, attempts } = await judgeThroughServer('judge-refusal-provider', 'evals/refusal-provider', 2);
    expect(summary).toMatchObject({ unjudged: 1, n: samples.length - 1, k: 2 });
    expect(attempts).toEqual([1]);
    const sent = llm.requests.slice(before).map(userOf);
    expect(sent.filter((u) => u.includes(refused))).toHaveLength(2);
    expect(sent).toHaveLength(samples.length - 1 + 2);
    expect(await storedJudgment(summary, 'refund', 0)).toMatchObject({
      verdict: 'unjudged',
      attempts: 2,
      unjudgedReason: "refused: I'm sorry, I can't assist with that.",
    });
  });
});
