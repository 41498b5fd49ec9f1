import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { CorpusJob, CorpusManifestRef, CorpusPreview, CorpusRef, UnitRange } from '../../src/corpus/types';
import type { Usage } from '../../src/cost/usage';
import {
  approveUpdate,
  corpusGeneration,
  corpusProgressQuery,
  pauseSignal,
  resumeSignal,
  setBudgetUpdate,
  setConcurrencyUpdate,
} from '../../src/workflows';
import { argsOf, failureText, gates, startStubbedEnv, waitFor, type StubbedEnv } from '../helpers/stubbed-workflows';
import { smallExperiment } from './stub-experiment';

/**
 * corpusGeneration (msm's deployed workflow code) on a real Temporal server with its LLM activities
 * stubbed: the order of its stages, preview approval (the wait, an approve refused when nothing waits, a
 * cancel instead), continue-as-new carrying plan, phase and progress, pause/resume and concurrency, the
 * budget. What each activity writes and pays is generation-controls.test.ts's and corpus-top-up.test.ts's.
 */
const UNITS = 4;
/** The stubbed assembly's estimated tokens per unit of its ref. */
const TOKENS_PER_UNIT = 1000;
const usage = (calls: number, costUsd = 0.01 * calls): Usage => ({ calls, inputTokens: 10, outputTokens: 20, costUsd });

/** A corpus job as msmExperiment makes it, its generation settings checked by the experiment schema. */
function job(name: string, generation: Record<string, unknown>): CorpusJob {
  const x = parseExperiment(smallExperiment({ name, generation: { batchUnits: 1, concurrency: 2, ...generation } }));
  return { storeUri: x.store, specKey: 'inputs/spec-1.md', specHash: `spec-${name}`, generation: x.generation };
}

const preview: CorpusPreview = {
  units: UNITS,
  documents: 16,
  documentsDone: 4,
  projectedInputTokens: 1000,
  projectedOutputTokens: 2000,
  projectedCostUsd: 1.5,
  basis: 'pilot',
  sampleUris: ['file:///tmp/docs/0.json'],
};

describe('corpusGeneration with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  let planCostUsd = 0.01;
  let capUnits = Infinity;
  const gate = gates();
  /** Idea batches (by their first unit) that wait at the gate, under `<specHash>-<unit>`. */
  const held = new Set<number>();

  beforeAll(async () => {
    env = await startStubbedEnv(
      {
        'msm-llm': {
          // A top-up round's units as asked, except where the test caps the domain plan.
          planCorpus: async (j: CorpusJob, want?: { units: number }) => ({
            storeUri: j.storeUri,
            prefix: `corpus/${j.specHash}`,
            units: Math.min(want?.units ?? UNITS, capUnits),
            usage: usage(1, planCostUsd),
          }),
          generateTypesAndIdeas: async (j: CorpusJob, _r: CorpusRef, range: UnitRange) => {
            if (held.has(range.from)) await gate.wait(`${j.specHash}-${range.from}`);
            return { ideas: 4, llmCalls: 2, usage: usage(2) };
          },
          generateDocuments: async () => ({ generated: 4, reused: 0, truncated: 1, llmCalls: 4, usage: usage(4) }),
          previewCorpus: async () => preview,
          assembleCorpus: async (ref: CorpusRef): Promise<CorpusManifestRef> => ({
            manifestKey: `${ref.prefix}/manifest.json`,
            hash: 'corpus-hash',
            documents: 16,
            duplicatesRemoved: 0,
            truncatedDropped: 4,
            truncated: 0,
            shardKeys: [`${ref.prefix}/shard-0.jsonl`],
            documentUsage: usage(16),
            estimatedTokens: (ref as CorpusRef & { units: number }).units * TOKENS_PER_UNIT,
          }),
        },
      },
      {},
      'msm',
    );
  });
  afterAll(async () => env?.close());

  /** The first unit of each batch the activity was called for, in call order. */
  /** The first unit of each batch the activity was called for (batches run concurrently: sorted). */
  const rangesOf = (name: string) =>
    env.calls
      .filter((c) => c.name === name)
      .map((c) => (c.args[2] as UnitRange).from)
      .sort((a, b) => a - b);

  it('plans once, ideas for every batch before any document, then the preview, the documents and the assembly', async () => {
    const j = job('plain', {});
    const h = await env.start(corpusGeneration, 'corpus-plain', j);
    const manifest = await h.result();
    const names = env.calls.map((c) => c.name);
    expect(names).toEqual([
      'planCorpus',
      ...Array(UNITS).fill('generateTypesAndIdeas'),
      'previewCorpus',
      ...Array(UNITS).fill('generateDocuments'),
      'assembleCorpus',
    ]);
    expect(rangesOf('generateTypesAndIdeas')).toEqual([0, 1, 2, 3]);
    expect(rangesOf('generateDocuments')).toEqual([0, 1, 2, 3]);
    const ref = { storeUri: j.storeUri, prefix: 'corpus/spec-plain', units: UNITS };
    expect(env.calls.at(-1)!.args).toEqual([
      ref,
      { nearDuplicateThreshold: j.generation.nearDuplicateThreshold, truncated: j.generation.truncated },
    ]);
    expect(manifest.manifestKey).toBe('corpus/spec-plain/manifest.json');
    const p = await h.query(corpusProgressQuery);
    expect(p).toMatchObject({
      units: 4,
      unitsWithIdeas: 4,
      unitsWithDocs: 4,
      documentsGenerated: 16,
      truncated: 4,
      llmCalls: 4 * 2 + 4 * 4,
      preview,
      awaitingApproval: false,
    });
    expect(p.usage.calls).toBe(1 + 4 * 2 + 4 * 4); // the plan, every ideas and documents call, once
  });

  it('requireApproval: the pilot, the preview, then nothing until approved; an approve with nothing to approve is refused', async () => {
    held.add(0);
    let h;
    try {
      h = await env.start(
        corpusGeneration,
        'corpus-approval',
        job('approval', { requireApproval: true, pilotUnits: 1 }),
      );
      await waitFor(() => gate.waiting.length === 1, 'the first ideas batch');
      const early = await h.executeUpdate(approveUpdate).catch((e: unknown) => e);
      expect(failureText(early)).toMatch(/nothing to approve: this corpus is not waiting for approval/);
    } finally {
      gate.open('spec-approval-0');
      held.clear();
    }
    await waitFor(async () => (await h.query(corpusProgressQuery)).awaitingApproval, 'the approval gate');
    await new Promise((r) => setTimeout(r, 500));
    expect(rangesOf('generateDocuments')).toEqual([0]); // the pilot only, while it waits
    expect((await h.query(corpusProgressQuery)).preview).toEqual(preview);

    expect(await h.executeUpdate(approveUpdate)).toEqual(preview);
    await h.result();
    expect(rangesOf('generateDocuments')).toEqual([0, 1, 2, 3]); // the pilot not paid twice
    const late = await h.executeUpdate(approveUpdate).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(Error);
  });

  it('cancelled at the approval gate (the preview rejected): no document beyond the pilot, no assembly', async () => {
    const h = await env.start(
      corpusGeneration,
      'corpus-rejected',
      job('rejected', { requireApproval: true, pilotUnits: 2 }),
    );
    await waitFor(async () => (await h.query(corpusProgressQuery)).awaitingApproval, 'the approval gate');
    await h.cancel();
    const err = await h.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(rangesOf('generateDocuments')).toEqual([0, 1]);
    expect(argsOf(env.calls, 'assembleCorpus')).toEqual([]);
  });

  it('continues as new past unitsPerRun, across the approval gate: plan, phase and progress carried, nothing paid twice', async () => {
    // 4 units, one a batch, two a run: ideas 0-1 | ideas 2-3 | pilot, approval, documents of 1 | documents 2-3.
    const h = await env.start(
      corpusGeneration,
      'corpus-rolling',
      job('rolling', { unitsPerRun: 2, requireApproval: true, pilotUnits: 1 }),
    );
    await waitFor(async () => (await h.query(corpusProgressQuery)).awaitingApproval, 'the gate in a continued run');
    expect(await h.query(corpusProgressQuery)).toMatchObject({ units: 4, unitsWithIdeas: 4, unitsWithDocs: 1 });
    await h.executeUpdate(approveUpdate);
    await h.result();
    await waitFor(async () => (await env.runsOf('corpus-rolling')) === 4, 'four runs');
    expect(argsOf(env.calls, 'planCorpus')).toHaveLength(1);
    expect(rangesOf('generateTypesAndIdeas')).toEqual([0, 1, 2, 3]);
    expect(rangesOf('generateDocuments')).toEqual([0, 1, 2, 3]);
    const p = await h.query(corpusProgressQuery);
    expect(p).toMatchObject({ units: 4, unitsWithIdeas: 4, unitsWithDocs: 4, documentsGenerated: 16, llmCalls: 24 });
    expect(p.usage.calls).toBe(25);
  });

  it('pause holds new batches (running ones finish), resume goes on; setConcurrency is checked and bounds the batches', async () => {
    [0, 1, 2].forEach((u) => held.add(u));
    try {
      const h = await env.start(corpusGeneration, 'corpus-paused', job('paused', {}));
      await waitFor(() => gate.waiting.length === 2, 'two batches at concurrency 2');
      const refused = await h.executeUpdate(setConcurrencyUpdate, { args: [257] }).catch((e: unknown) => e);
      expect(failureText(refused)).toMatch(/concurrency must be an integer in 1\.\.256/);
      await h.signal(pauseSignal);
      await waitFor(async () => (await h.query(corpusProgressQuery)).paused, 'the pause');
      gate.open('spec-paused-0', 'spec-paused-1');
      await waitFor(async () => (await h.query(corpusProgressQuery)).unitsWithIdeas === 2, 'the two to finish');
      await new Promise((r) => setTimeout(r, 500));
      expect(rangesOf('generateTypesAndIdeas')).toEqual([0, 1]);

      expect(await h.executeUpdate(setConcurrencyUpdate, { args: [1] })).toBe(1);
      await h.signal(resumeSignal);
      await waitFor(() => gate.waiting.length === 1, 'the third batch after resume');
      await new Promise((r) => setTimeout(r, 500));
      expect(rangesOf('generateTypesAndIdeas')).toEqual([0, 1, 2]); // one at a time now
      gate.open('spec-paused-2');
      await h.result();
      expect(rangesOf('generateDocuments')).toEqual([0, 1, 2, 3]);
    } finally {
      gate.open('spec-paused-0', 'spec-paused-1', 'spec-paused-2');
      held.clear();
    }
  });

  it('generation.budgetUsd: spent by the plan, nothing more starts until setBudget raises it', async () => {
    planCostUsd = 2;
    try {
      const h = await env.start(corpusGeneration, 'corpus-budget', job('budget', { budgetUsd: 1 }));
      await waitFor(async () => (await h.query(corpusProgressQuery)).overBudget, 'the budget to stop it');
      await new Promise((r) => setTimeout(r, 500));
      expect(env.calls.map((c) => c.name)).toEqual(['planCorpus']);
      const refused = await h.executeUpdate(setBudgetUpdate, { args: [-5] }).catch((e: unknown) => e);
      expect(failureText(refused)).toMatch(/budget must be a positive number of USD/);
      expect(await h.executeUpdate(setBudgetUpdate, { args: [100] })).toBe(100);
      await h.result();
      const p = await h.query(corpusProgressQuery);
      expect(p).toMatchObject({ overBudget: false, budgetUsd: 100, unitsWithDocs: 4 });
      expect(p.usage.costUsd).toBeCloseTo(2 + 0.01 * (4 * 2 + 4 * 4), 6);
    } finally {
      planCostUsd = 0.01;
    }
  });

  it('generation.targetTokens: a short assembly is topped up with more units (only the new ones generated) and assembled again', async () => {
    // 4 units make 4,000 tokens, 2,500 short: at 1,000 a unit with 5% to spare, 3 more units; 7,000 reach 6,500.
    const h = await env.start(corpusGeneration, 'corpus-target', job('target', { targetTokens: 6500, unitsPerRun: 2 }));
    const manifest = await h.result();
    expect(argsOf(env.calls, 'planCorpus')).toHaveLength(2);
    expect(env.calls.filter((c) => c.name === 'planCorpus').map((c) => c.args[1])).toEqual([undefined, { units: 7 }]);
    expect(rangesOf('generateTypesAndIdeas')).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(rangesOf('generateDocuments')).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // The preview is the first round's only; each round is assembled with its own units.
    expect(argsOf(env.calls, 'previewCorpus')).toHaveLength(1);
    expect(argsOf<CorpusRef & { units: number }>(env.calls, 'assembleCorpus').map((r) => r.units)).toEqual([4, 7]);
    expect(manifest.target).toEqual({ targetTokens: 6500, estimatedTokens: 7000, topUpRounds: 1, reached: true });
    // Two units a run: the top-up round continued as new too, carrying its round.
    expect(await env.runsOf('corpus-target')).toBeGreaterThan(4);
    const p = await h.query(corpusProgressQuery);
    expect(p).toMatchObject({ units: 7, unitsWithIdeas: 7, unitsWithDocs: 7, target: manifest.target });
  });

  it('generation.targetTokens: stops short when the plan gives no more units, saying by how much', async () => {
    capUnits = 6;
    try {
      const h = await env.start(corpusGeneration, 'corpus-short', job('short', { targetTokens: 9000 }));
      const manifest = await h.result();
      // 4 units (4,000), then the 6 the plan has (6,000), then no more: 3,000 short.
      expect(argsOf<CorpusRef & { units: number }>(env.calls, 'assembleCorpus').map((r) => r.units)).toEqual([4, 6]);
      expect(manifest.target).toEqual({
        targetTokens: 9000,
        estimatedTokens: 6000,
        topUpRounds: 1,
        reached: false,
        shortBy: 3000,
        why: 'the domain plan gave no more units',
      });
      expect((await h.query(corpusProgressQuery)).target).toEqual(manifest.target);
    } finally {
      capUnits = Infinity;
    }
  });

  it('without generation.targetTokens: one assembly, no target in the manifest or progress', async () => {
    const h = await env.start(corpusGeneration, 'corpus-no-target', job('no-target', {}));
    expect((await h.result()).target).toBeUndefined();
    expect(argsOf(env.calls, 'assembleCorpus')).toHaveLength(1);
    expect((await h.query(corpusProgressQuery)).target).toBeUndefined();
  });
});
