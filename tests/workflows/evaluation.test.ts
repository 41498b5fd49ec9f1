import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalRequest, EvalSummary, SamplesRef } from '../../src/eval/types';
import { MSM_STAGE } from '../../src/temporal/search-attribute-keys';
import { evaluationRun } from '../../src/workflows';
import {
  argsOf,
  failureText,
  jobError,
  namesOf,
  startStubbedEnv,
  untilCancelled,
  waitFor,
  type StubbedEnv,
} from '../helpers/stubbed-workflows';
import { evalRequest } from './jobs';
import { usage } from './stub-experiment';

/**
 * evaluationRun on a real Temporal server with its jobs stubbed: sample then judge (the sampling job's
 * machine cost carried into the result), an Inspect task as one job, a preempted sampling job retried, a
 * failed or cancelled one whose machines are released on the cleanup queue, and a judge that fails after
 * the machines are done with.
 */
type Step = 'done' | 'preempted' | 'bad-input' | 'run-until-cancelled';

describe('evaluationRun with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  let sampling: Step[] = ['done'];
  let judging: Step[] = ['done'];
  const events: string[] = [];
  let attempt = 0;
  const run = (id: string, req: EvalRequest) => {
    attempt = 0;
    events.length = 0;
    return env.start(evaluationRun, id, req);
  };
  /** The job the script gives for this attempt; `done` answers with `result`. */
  async function job<T>(script: Step[], result: () => T): Promise<T> {
    const step = script[Math.min(attempt++, script.length - 1)];
    if (step === 'preempted') throw await jobError('the machine was preempted', 'MachineLost');
    if (step === 'bad-input') throw await jobError('the model file is not there', 'BadInput', true);
    if (step === 'run-until-cancelled') return untilCancelled(() => events.push('job stopped'));
    return result();
  }
  const samples = (req: EvalRequest): SamplesRef => ({
    evalKey: `evals/${req.label}`,
    samplesKey: 'samples.jsonl',
    samplesUri: `file:///tmp/samples/${req.label}`,
    samples: 8,
    compute: usage(0.5),
  });
  const summary = (req: EvalRequest, from: SamplesRef | null): EvalSummary => ({
    k: 2,
    n: 8,
    samplesUri: from?.samplesUri ?? `file:///tmp/inspect/${req.label}`,
    judgmentsPrefix: `file:///tmp/judgments/${req.label}`,
    judgeModel: 'stub-judge',
  });

  beforeAll(async () => {
    env = await startStubbedEnv({
      'msm-gpu': {
        generateSamples: (req: EvalRequest) => job(sampling, () => samples(req)),
        runInspectEval: (req: EvalRequest) => job(sampling, () => summary(req, null)),
      },
      'msm-llm': {
        judgeSamples: (req: EvalRequest, s: SamplesRef) => {
          attempt = 0;
          return job(judging, () => summary(req, s));
        },
      },
      'msm-cleanup': { releaseEvalMachines: async () => (events.push('released'), 1) },
    });
  });
  afterAll(async () => env?.close());

  it("samples, then judges those samples; the sampling job's machine cost travels with the result", async () => {
    sampling = ['done'];
    judging = ['done'];
    const req = evalRequest('eval-baseline-1of1-s0');
    const h = await run('eval-done', req);
    const out = await h.result();
    expect(namesOf(env.calls)).toEqual(['generateSamples', 'judgeSamples']);
    expect(env.calls[1].args).toEqual([req, samples(req)]);
    expect(out).toEqual({ ...summary(req, samples(req)), compute: usage(0.5) });
    expect((await h.describe()).typedSearchAttributes.get(MSM_STAGE)).toBe('eval');
  });

  it('eval.inspect: one Inspect job samples and grades; no separate judge', async () => {
    sampling = ['done'];
    const req = evalRequest('eval-inspect', { grid: { scenario: ['blackmail'] }, epochs: 1 });
    const out = await (await run('eval-inspect', req)).result();
    expect(namesOf(env.calls)).toEqual(['runInspectEval']);
    expect(out).toEqual(summary(req, null));
  });

  it('a preempted sampling job is retried with the same request; the samples are judged once', async () => {
    sampling = ['preempted', 'done'];
    judging = ['done'];
    const req = evalRequest('eval-preempted');
    await (await run('eval-preempted', req)).result();
    expect(namesOf(env.calls)).toEqual(['generateSamples', 'generateSamples', 'judgeSamples']);
    expect(argsOf(env.calls, 'generateSamples')).toEqual([req, req]);
  });

  for (const kind of ['sampling', 'Inspect'] as const)
    it(`a failed ${kind} job releases its machines on the cleanup queue; nothing is judged; the run fails with the job's error`, async () => {
      sampling = ['bad-input'];
      const req = evalRequest(`eval-failed-${kind}`, kind === 'Inspect' ? {} : undefined);
      const err = await (await run(`eval-failed-${kind}`, req)).result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(failureText(err)).toMatch(/the model file is not there/);
      expect(env.calls.map((c) => [c.queue, c.name])).toEqual([
        ['msm-gpu', kind === 'Inspect' ? 'runInspectEval' : 'generateSamples'],
        ['msm-cleanup', 'releaseEvalMachines'],
      ]);
      expect(argsOf(env.calls, 'releaseEvalMachines')).toEqual([req]);
    });

  it('a judge that fails for good fails the run; the sampling machines, already done with, are not released again', async () => {
    sampling = ['done'];
    judging = ['bad-input'];
    const err = await (await run('eval-judge-failed', evalRequest('eval-judge-failed'))).result().catch((e) => e);
    expect(failureText(err)).toMatch(/the model file is not there/);
    expect(namesOf(env.calls)).toEqual(['generateSamples', 'judgeSamples']);
  });

  it('cancelled while sampling: the job is stopped first, then its machines are released; the run ends cancelled', async () => {
    sampling = ['run-until-cancelled'];
    const req = evalRequest('eval-cancelled');
    const h = await run('eval-cancelled', req);
    await waitFor(() => env.calls.length === 1, 'the sampling job to start');
    await h.cancel();
    const err = await h.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(events).toEqual(['job stopped', 'released']);
    expect(argsOf(env.calls, 'releaseEvalMachines')).toEqual([req]);
    expect(argsOf(env.calls, 'judgeSamples')).toEqual([]);
  });
});
