import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvalActivities } from '../../src/activities/eval-activities';
import type { Judgment } from '../../src/eval/judge-sample';
import type { EvalRequest, EvalSummary, SamplesRef } from '../../src/eval/types';
import { FsArtifactStore } from '../../src/store/fs-store';
import { readJson } from '../../src/store/json';
import { startScriptedAnthropicServer } from '../helpers/scripted-anthropic-server';
import { JUDGED_LINES, JUDGED_SAMPLES } from '../helpers/judge-request';

/**
 * eval.judge.batch through the real Anthropic SDK against a scripted Message Batches server: the judging
 * activity is killed while its batch runs, and its retry re-attaches to the same batch (the server sees
 * exactly one batch created); an item the batch errored is judged by a single call; the verdicts and their
 * spend are stored once.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-judge-batch-'));
const store = new FsArtifactStore(pathToFileURL(root).href);
let anthropic: Awaited<ReturnType<typeof startScriptedAnthropicServer>>;
const KEY_ENV = 'MSM_TEST_JUDGE_BATCH_KEY';

const lines = JUDGED_LINES;
const samples = JUDGED_SAMPLES;
const ref: SamplesRef = {
  evalKey: 'evals/cell',
  samplesKey: 'evals/cell/samples.jsonl',
  samplesUri: 'file:///s',
  samples: samples.length,
};

beforeAll(async () => {
  anthropic = await startScriptedAnthropicServer();
  process.env[KEY_ENV] = 'sk-ant-test';
  await store.put('inputs/eval.jsonl', lines.map((l) => JSON.stringify(l)).join('\n'));
  await store.put(ref.samplesKey, samples.map((s) => JSON.stringify(s)).join('\n'));
});
afterAll(async () => {
  await anthropic.close();
  delete process.env[KEY_ENV];
  rmSync(root, { recursive: true, force: true });
});

const req: EvalRequest = {
  storeUri: store.rootUri,
  label: 'cell',
  modelUri: null,
  tokenizerUri: 'file:///tok',
  evalSet: { key: 'inputs/eval.jsonl', sha256: 'e', prompts: lines.length },
  experiment: {
    eval: {
      judge: {
        kind: 'anthropic',
        model: 'claude-judge',
        apiKeyEnv: KEY_ENV,
        baseUrl: '',
        timeoutMs: 10_000,
        price: { inputPerMillion: 3, outputPerMillion: 15, batchDiscount: 0.5 },
        batch: true,
        batchPollSeconds: 0.05,
      },
      judgeConcurrency: 4,
      judgeAttempts: 3,
    },
  } as unknown as EvalRequest['experiment'],
  seed: 0,
};

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('batch judging (eval.judge.batch)', () => {
  it('an activity killed while its batch runs re-attaches to the same batch on retry: one batch created, every verdict stored once', async () => {
    const r = {
      ...req,
      experiment: { eval: { ...req.experiment.eval, judge: { ...req.experiment.eval.judge, baseUrl: anthropic.url } } },
    } as EvalRequest;
    const book = anthropic.batches;
    book.held = true;
    book.batchMs = 0;
    // The batch errors one item: not billed, it is judged by a single call afterwards.
    let erroredId = '';
    book.itemFault = (customId, nth) => {
      if (!erroredId) erroredId = customId;
      return customId === erroredId && nth === 1 ? 'errored' : null;
    };

    const killed = new MockActivityEnvironment();
    const first = killed.run(createEvalActivities().judgeSamples, r, ref);
    // The batch is submitted and its record written (before the first poll); then the activity dies.
    await until('the batch to be polled', () => book.batches.size === 1 && book.polls >= 2);
    killed.cancel();
    await expect(first).rejects.toBeInstanceOf(CancelledFailure);
    const batchId = [...book.batches.keys()][0];

    book.held = false;
    const summary: EvalSummary = await new MockActivityEnvironment().run(createEvalActivities().judgeSamples, r, ref);
    // Exactly one batch was ever created, and the retry read it: the record names it.
    expect(book.batches.size).toBe(1);
    expect(book.items).toHaveLength(samples.length);
    const prefix = summary.judgmentsPrefix.slice(store.rootUri.replace(/\/$/, '').length + 1);
    const pointer = await readJson<{ key: string }>(store, `${prefix}/batches/latest.json`);
    expect(await readJson(store, pointer.key)).toMatchObject({ batchId, done: true });
    // The errored item went to one single call; everything else came from the batch.
    expect(anthropic.requests).toHaveLength(1);
    expect(summary.n + (summary.unjudged ?? 0)).toBe(samples.length);
    expect(summary.judgeUsage!.calls).toBe(samples.length);
    const verdicts = await Promise.all(
      samples.map((s) => readJson<Judgment>(store, `${prefix}/${s.promptId}-${s.sample}.json`)),
    );
    expect(verdicts.every((j) => j.usage && j.judge === 'anthropic:claude-judge')).toBe(true);
    // Batch items are billed at half price: each of these costs half the single call's price for its tokens.
    const priced = (j: Judgment, factor: number) =>
      (factor * (j.usage!.inputTokens * 3 + j.usage!.outputTokens * 15)) / 1e6;
    const single = verdicts.filter((j) => Math.abs(j.usage!.costUsd - priced(j, 1)) < 1e-12);
    expect(single).toHaveLength(1);
    expect(verdicts.filter((j) => Math.abs(j.usage!.costUsd - priced(j, 0.5)) < 1e-12)).toHaveLength(
      samples.length - 1,
    );

    // Once more: nothing is paid again, and the spend is the same.
    const again: EvalSummary = await new MockActivityEnvironment().run(createEvalActivities().judgeSamples, r, ref);
    expect(book.batches.size).toBe(1);
    expect(anthropic.requests).toHaveLength(1);
    expect(again.judgeUsage).toEqual(summary.judgeUsage);
  });
});
