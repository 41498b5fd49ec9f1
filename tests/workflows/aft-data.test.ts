import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AftDataJob, AftDataRef, AftDataResult, AnswerBatchResult } from '../../src/aft-data/types';
import type { RoundPlan } from '../../src/aft-data/round-plan';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { Usage } from '../../src/cost/usage';
import { aftDataGeneration, aftDataProgressQuery, pauseSignal, resumeSignal } from '../../src/workflows';
import { startStubbedEnv, waitFor, type StubbedEnv } from '../helpers/stubbed-workflows';
import { smallExperiment } from './stub-experiment';

/**
 * aftDataGeneration (msm's deployed workflow code) on a real Temporal server with its LLM activities
 * stubbed: how many questions each round asks for and answers, backfill rounds until the count passes (or
 * the rounds run out), spare questions carried into the next round, pause/resume. What the activities
 * dedup, filter and write is aft-data.test.ts's (the end-to-end one, on a scripted LLM server).
 */
const CELLS = 8;
const usage = (calls: number): Usage => ({ calls, inputTokens: 10, outputTokens: 20, costUsd: 0.001 * calls });

/** The job msmExperiment gives its aft-data child, from an experiment with aft.generate checked by the schema. */
function job(name: string, generate: Record<string, unknown>): AftDataJob {
  const raw = smallExperiment({ name });
  const { data: _d, reasoningData: _r, ...aft } = raw.aft as Record<string, unknown>;
  const x = parseExperiment({ ...raw, aft: { ...aft, generate: { batchQuestions: 8, ...generate } } });
  return { storeUri: x.store, specKey: 'inputs/spec-1.md', specHash: `spec-${name}`, generate: x.aft.generate! };
}

describe('aftDataGeneration with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  /** Per round: questions it selects to answer are `need`; spare ones left over; included of each batch. */
  let spareOf: (round: number) => number = () => 0;
  let includedOf: (round: number, answered: number) => number = (_r, n) => n;

  beforeAll(async () => {
    env = await startStubbedEnv(
      {
        'msm-llm': {
          planAftData: async (j: AftDataJob) => ({
            storeUri: j.storeUri,
            prefix: `aft/${j.specHash}`,
            domains: 2,
            cells: CELLS,
            usage: usage(1),
          }),
          generateAftQuestions: async (
            _j: AftDataJob,
            _ref: AftDataRef,
            _round: number,
            range: { from: number; to: number },
            plan: RoundPlan,
          ) => ({
            questions: (range.to - range.from) * plan.calls * plan.perCall,
            llmCalls: (range.to - range.from) * plan.calls,
            usage: usage((range.to - range.from) * plan.calls),
          }),
          selectAftQuestions: async (
            _j: AftDataJob,
            _ref: AftDataRef,
            round: number,
            _plan: RoundPlan,
            need: number,
          ) => ({
            generated: need + 5,
            duplicates: 2,
            answer: need,
            spare: spareOf(round),
            usage: usage(0),
          }),
          answerAftQuestions: async (
            _j: AftDataJob,
            _ref: AftDataRef,
            round: number,
            range: { from: number; to: number },
          ): Promise<AnswerBatchResult> => {
            const n = range.to - range.from;
            const included = includedOf(round, n);
            return {
              answered: n,
              reused: 0,
              included,
              excluded: n - included,
              malformed: 0,
              llmCalls: 2 * n,
              usage: usage(2 * n),
            };
          },
          assembleAftData: async (j: AftDataJob, ref: AftDataRef, rounds: number): Promise<AftDataResult> => ({
            manifestKey: `${ref.prefix}/manifest.json`,
            withReasoning: { key: `${ref.prefix}/with.jsonl`, sha256: 'with' },
            withoutReasoning: { key: `${ref.prefix}/without.jsonl`, sha256: 'without' },
            examples: j.generate.count,
            counts: { backfillRounds: rounds - 1 } as AftDataResult['counts'],
            usage: usage(0),
          }),
        },
      },
      {},
      'msm',
    );
  });
  afterAll(async () => env?.close());

  /** Per round: [question calls' cell ranges, `need` given to select, answer batches' ranges]. */
  const rounds = () => {
    const by = new Map<number, { questions: number[][]; need?: number; answers: number[][] }>();
    const at = (r: number) => by.get(r) ?? by.set(r, { questions: [], answers: [] }).get(r)!;
    for (const c of env.calls) {
      const range = c.args[3] as { from: number; to: number };
      if (c.name === 'generateAftQuestions') at(c.args[2] as number).questions.push([range.from, range.to]);
      if (c.name === 'selectAftQuestions') at(c.args[2] as number).need = c.args[4] as number;
      if (c.name === 'answerAftQuestions') at(c.args[2] as number).answers.push([range.from, range.to]);
    }
    for (const r of by.values()) [r.questions, r.answers].forEach((l) => l.sort((a, b) => a[0] - b[0]));
    return [...by.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
  };

  it('round 0 meets the count: questions for every cell, answers in batches, no backfill; progress counts it all', async () => {
    spareOf = () => 0;
    includedOf = (_r, n) => n;
    const h = await env.start(aftDataGeneration, 'aft-one-round', job('one', { count: 20, concurrency: 2 }));
    const out = await h.result();
    expect(rounds()).toEqual([
      {
        questions: [
          [0, 4],
          [4, 8],
        ],
        need: 20,
        answers: [
          [0, 8],
          [8, 16],
          [16, 20],
        ],
      },
    ]);
    expect(env.calls.at(-1)!.name).toBe('assembleAftData');
    expect(env.calls.at(-1)!.args[2]).toBe(1);
    expect(out.examples).toBe(20);
    expect(await h.query(aftDataProgressQuery)).toMatchObject({
      requested: 20,
      round: 0,
      domains: 2,
      included: 20,
      answered: 20,
      questionsGenerated: 25,
      duplicates: 2,
      done: true,
    });
  });

  it('too few pass: backfill rounds ask only for what is missing, less the spare questions already selected', async () => {
    // Round 0: 14 of 20 pass, 3 spare; round 1 asks for 6 - 3 and answers 6, all pass.
    spareOf = (r) => (r === 0 ? 3 : 0);
    includedOf = (r, n) => (r === 0 ? Math.max(0, n - 2) : n);
    const h = await env.start(aftDataGeneration, 'aft-backfill', job('backfill', { count: 20, backfillRounds: 2 }));
    await h.result();
    const [r0, r1, ...more] = rounds();
    expect(r0.need).toBe(20);
    expect(r1).toEqual({
      questions: [
        [0, 4],
        [4, 8],
      ],
      need: 6,
      answers: [[0, 6]],
    });
    expect(more).toEqual([]);
    const qs = env.calls.filter((c) => c.name === 'generateAftQuestions').map((c) => [c.args[2], c.args[4]]);
    expect(qs).toContainEqual([1, { calls: 1, perCall: 1 }]); // ceil(3 x 1.25 / 8 cells) a cell
    expect(env.calls.at(-1)!.args[2]).toBe(2);
    expect((await h.query(aftDataProgressQuery)).included).toBe(20);
  });

  it('spare questions that cover the shortfall: the round asks for no new questions, only answers', async () => {
    spareOf = (r) => (r === 0 ? 10 : 0);
    includedOf = (r, n) => (r === 0 ? n - 1 : n);
    await (await env.start(aftDataGeneration, 'aft-spares', job('spares', { count: 16 }))).result();
    const [, r1] = rounds();
    expect(r1).toEqual({ questions: [], need: 2, answers: [[0, 2]] });
  });

  it('the rounds run out: the shortfall stays, and the data is assembled from every round', async () => {
    spareOf = () => 0;
    includedOf = () => 0;
    const h = await env.start(aftDataGeneration, 'aft-short', job('short', { count: 8, backfillRounds: 2 }));
    await h.result();
    expect(rounds().map((r) => r.need)).toEqual([8, 8, 8]);
    expect(env.calls.at(-1)!.args[2]).toBe(3);
    expect(await h.query(aftDataProgressQuery)).toMatchObject({ included: 0, round: 2, done: true });
  });

  it('paused from the start: the domains are planned, no question is asked until resume', async () => {
    spareOf = () => 0;
    includedOf = (_r, n) => n;
    env.calls.length = 0;
    const h = await env.client.workflow.signalWithStart(aftDataGeneration, {
      taskQueue: 'msm',
      workflowId: 'aft-paused',
      args: [job('paused', { count: 8 })],
      signal: pauseSignal,
    });
    await waitFor(() => env.calls.length === 1, 'the plan');
    await new Promise((r) => setTimeout(r, 500));
    expect(env.calls.map((c) => c.name)).toEqual(['planAftData']);
    expect(await h.query(aftDataProgressQuery)).toMatchObject({ paused: true, domains: 2, questionsGenerated: 0 });
    await h.signal(resumeSignal);
    await h.result();
    expect(rounds()).toHaveLength(1);
  });
});
