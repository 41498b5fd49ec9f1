import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MSM_RELEASE_FAILED, MSM_STAGE } from '../../src/temporal/search-attribute-keys';
import type { TrainRequest, TrainResult } from '../../src/training/types';
import { trainingRun } from '../../src/workflows';
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
import { trainRequest } from './jobs';

/**
 * trainingRun on a real Temporal server with its job stubbed: a finished job, a preempted one retried with
 * the same request (the real activity re-attaches or resumes from its checkpoint), a failed one whose
 * machines are released on the cleanup queue, a release that fails or fails for a while, and a cancel that
 * stops the job before releasing. The job itself (restarts, checkpoints) is runTraining's: job-restarts.test.ts.
 */
describe('trainingRun with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  /** What the job stub does on each attempt, in order; the last entry repeats. */
  let script: Array<'done' | 'preempted' | 'bad-input' | 'run-until-cancelled'> = ['done'];
  let release: Array<'ok' | 'refused' | 'unavailable'> = ['ok'];
  /** The stop of a cancelled job and each release, in the order they happened. */
  const events: string[] = [];
  const result = (req: TrainRequest, resumedFromStep: number | null, preemptions: number): TrainResult => ({
    outputUri: `file:///tmp/runs/${req.label}/final`,
    runKey: `runs/${req.label}`,
    metrics: { final_loss: 1.25 },
    resumedFromStep,
    preemptions,
  });

  let attempt = 0;
  /** Starts a case: its attempts from the first entry of its script, its own events. */
  const run = (id: string, req: TrainRequest) => {
    attempt = 0;
    events.length = 0;
    return env.start(trainingRun, id, req);
  };

  beforeAll(async () => {
    env = await startStubbedEnv({
      'msm-gpu': {
        runTraining: async (req: TrainRequest) => {
          const step = script[Math.min(attempt++, script.length - 1)];
          if (step === 'preempted') throw await jobError('the machine was preempted', 'MachineLost');
          if (step === 'bad-input') throw await jobError('the image will not start', 'BadInput', true);
          if (step === 'run-until-cancelled') return untilCancelled(() => events.push('job stopped'));
          return result(req, attempt > 1 ? 40 : null, attempt - 1);
        },
      },
      'msm-cleanup': {
        releaseTrainingMachines: async () => {
          events.push('released');
          const next = release.length > 1 ? release.shift() : release[0];
          if (next === 'refused') throw ApplicationFailure.nonRetryable('the API key was refused', 'ComputeConfig');
          if (next === 'unavailable') throw new Error('provider API: HTTP 503');
          return 1;
        },
      },
    });
  });
  afterAll(async () => env?.close());

  it("a finished job's result is the run's; nothing is released; the run is labelled by its kind", async () => {
    script = ['done'];
    const req = trainRequest('aft-baseline-1of1-s0');
    const h = await run('train-done', req);
    expect(await h.result()).toEqual(result(req, null, 0));
    expect(namesOf(env.calls)).toEqual(['runTraining']);
    expect(env.calls[0].arg).toEqual(req);
    expect((await h.describe()).typedSearchAttributes.get(MSM_STAGE)).toBe('aft');
  });

  it('a preempted job is retried with the same request and its resumed result returned; no release between', async () => {
    script = ['preempted', 'done'];
    const req = trainRequest('aft-msm-1of2-s1');
    const out = await (await run('train-preempted', req)).result();
    expect(out).toMatchObject({ resumedFromStep: 40, preemptions: 1 });
    expect(argsOf(env.calls, 'runTraining')).toEqual([req, req]);
    expect(argsOf(env.calls, 'releaseTrainingMachines')).toEqual([]);
  });

  it("a job that fails for good is not retried; its machines are released on the cleanup queue; the run fails with the job's error", async () => {
    script = ['bad-input'];
    release = ['ok'];
    const req = trainRequest('aft-bad');
    const h = await run('train-failed', req);
    const err = await h.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureText(err)).toMatch(/the image will not start/);
    expect(env.calls.map((c) => [c.queue, c.name])).toEqual([
      ['msm-gpu', 'runTraining'],
      ['msm-cleanup', 'releaseTrainingMachines'],
    ]);
    expect(argsOf(env.calls, 'releaseTrainingMachines')).toEqual([req]);
    expect((await h.describe()).typedSearchAttributes.get(MSM_RELEASE_FAILED)).toBeUndefined();
  });

  it('a release that fails is flagged on the run (MsmReleaseFailed), and the run still fails with its own error', async () => {
    script = ['bad-input'];
    release = ['refused'];
    const h = await run('train-release-refused', trainRequest('aft-refused'));
    const err = await h.result().catch((e: unknown) => e);
    expect(failureText(err)).toMatch(/the image will not start/);
    expect(failureText(err)).not.toMatch(/API key/);
    const d = await h.describe();
    expect(d.typedSearchAttributes.get(MSM_RELEASE_FAILED)).toBe(true);
    expect(argsOf(env.calls, 'releaseTrainingMachines')).toHaveLength(1);
  });

  it('a release that fails for a while is retried on the cleanup queue until the provider answers', async () => {
    script = ['bad-input'];
    release = ['unavailable', 'ok'];
    const h = await run('train-release-retried', trainRequest('aft-retried'));
    await h.result().catch(() => undefined);
    expect(argsOf(env.calls, 'releaseTrainingMachines')).toHaveLength(2);
    expect((await h.describe()).typedSearchAttributes.get(MSM_RELEASE_FAILED)).toBeUndefined();
  });

  it('cancelled: the job is stopped first, then its machines are released; the run ends cancelled', async () => {
    script = ['run-until-cancelled'];
    release = ['ok'];
    const req = trainRequest('aft-cancelled');
    const h = await run('train-cancelled', req);
    await waitFor(() => env.calls.length === 1, 'the job to start');
    await h.cancel();
    const err = await h.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(events).toEqual(['job stopped', 'released']);
    expect(argsOf(env.calls, 'releaseTrainingMachines')).toEqual([req]);
    expect((await h.describe()).status.name).toBe('CANCELLED');
  });
});
