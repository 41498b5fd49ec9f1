import { ActivityCancellationDetails, ApplicationFailure } from '@temporalio/common';
import { midtrainHyper } from '../../src/config/midtrain';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { TrainRequest } from '../../src/activities/types';
import type { ComputeBackend, JobStatus } from '../../src/compute/backend';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { ComputeLedger } from '../../src/cost/compute-usage';
import { afterFailure, restartsExhausted } from '../../src/training/restarts';
import { runKeyOf } from '../../src/training/run-request';
import { shutdownGraceMs } from '../../src/workers/create-workers';
import type { TrainerEvent } from '../../src/training/job';

type CancelReason = NonNullable<Parameters<MockActivityEnvironment['cancel']>[0]>;

/**
 * The trainer activity's decisions on a job's end, over a scripted backend (the real backends' side of
 * these paths is in job-lifecycle.test.ts): which failures count against compute.maxRestarts, how long a
 * machine that does not answer is waited for, and what a cancellation leaves running.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-restarts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** One poll's answer, or an error the poll throws (a provider's 5xx). */
type Step = JobStatus | Error;

const exited = (code: number, events: TrainerEvent[] = []): JobStatus => ({
  state: 'exited',
  exitCode: code,
  events,
  nextCursor: 1,
});
const running = (events: TrainerEvent[] = []): JobStatus => ({ state: 'running', events, nextCursor: 1 });
const unreachable: JobStatus = {
  state: 'unreachable',
  events: [],
  nextCursor: 0,
  lostReason: 'ssh: Connection refused',
};
const done: TrainerEvent = { event: 'done', outputUri: 'file:///out', metrics: { final_loss: 1 } };
const failed = (message: string): TrainerEvent => ({ event: 'error', message, retryable: true });
const checkpoint = (step: number): TrainerEvent => ({ event: 'checkpoint', step, uri: `file:///c/step-${step}` });

/** A backend that answers each attempt's polls from a script (the last answer repeats) and records calls. */
function scriptedBackend() {
  const calls: string[] = [];
  let script: Step[] = [];
  let i = 0;
  const backend: ComputeBackend = {
    name: 'scripted',
    provision: async (jobId) => {
      calls.push('provision');
      return { backend: 'scripted', machineId: `m-${jobId}`, details: {} };
    },
    launch: async () => {
      calls.push('launch');
      i = 0;
      return { attached: false };
    },
    poll: async () => {
      const step = script[Math.min(i++, script.length - 1)];
      if (step instanceof Error) throw step;
      return step;
    },
    cancel: async () => void calls.push('cancel'),
    release: async () => void calls.push('release'),
  };
  return { backend, calls, play: (s: Step[]) => ((script = s), (i = 0)) };
}

function request(label: string, compute: Record<string, unknown> = {}): TrainRequest {
  const x = parseExperiment({
    name: 'restarts-test',
    spec: 'specs/demo.md',
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
    compute: { backend: 'local', device: 'cpu', ...compute },
    midtrain: { loraR: 4, loraAlpha: 8, batchSize: 4 },
  });
  return {
    kind: 'midtrain',
    storeUri: pathToFileURL(path.join(root, 'store')).href,
    label,
    data: {
      manifestUri: 'file:///unused/manifest.json',
      sha256: label,
      numSequences: 1,
      numTokens: 1,
      tokenizerUri: 'file:///unused/tokenizer.json',
      vocabSize: 64,
    },
    seed: 0,
    experiment: x,
    hyper: midtrainHyper(x.midtrain),
  };
}

/**
 * The trainer activities over a scripted backend, polling every 20 ms instead of every second: the same
 * decisions, without a second of waiting per poll (lostGraceSec is still measured on the real clock).
 */
const trainerOver = (backend: ComputeBackend) =>
  createTrainerActivities({ backend, stateDir: path.join(root, 'state'), pollMs: 20 });

/** One activity attempt, as Temporal would run it after the previous one failed. */
async function attempt(activities: ReturnType<typeof createTrainerActivities>, req: TrainRequest) {
  return new MockActivityEnvironment().run(activities.runTraining, req).then(
    () => 'ok' as const,
    (e: unknown) => e as ApplicationFailure,
  );
}

const ledgerOf = (req: TrainRequest) =>
  JSON.parse(readFileSync(path.join(root, 'store', runKeyOf(req), 'compute', 'ledger.json'), 'utf8')) as ComputeLedger;

describe('the failure count', () => {
  it('counts failures while no newer checkpoint appears, starts again after progress or in a new run', () => {
    let r = afterFailure(undefined, 'run1', -1, 'boom');
    expect(r).toEqual({ runId: 'run1', failures: 1, checkpointStep: -1, lastError: 'boom' });
    r = afterFailure(r, 'run1', -1, 'boom');
    r = afterFailure(r, 'run1', -1, 'boom');
    expect(r.failures).toBe(3);
    expect(restartsExhausted(r, 2)).toBe(true);
    expect(restartsExhausted(r, 3)).toBe(false);
    expect(afterFailure(r, 'run1', 20, 'boom').failures).toBe(1); // a new checkpoint: progress
    expect(afterFailure(r, 'run2', -1, 'boom').failures).toBe(1); // the run was started again
  });
});

describe("the worker's shutdown grace", () => {
  it('MSM_SHUTDOWN_GRACE_SEC, default 30 s; a bad value says what it should be', () => {
    expect(shutdownGraceMs({})).toBe(30_000);
    expect(shutdownGraceMs({ MSM_SHUTDOWN_GRACE_SEC: '2' })).toBe(2000);
    expect(() => shutdownGraceMs({ MSM_SHUTDOWN_GRACE_SEC: 'soon' })).toThrow(/seconds a stopping worker waits/);
  });
});

describe('runTraining over a scripted backend', () => {
  it('a job failing the same way with no new checkpoint ends after maxRestarts with its own error', async () => {
    const { backend, calls, play } = scriptedBackend();
    const activities = trainerOver(backend);
    const req = request('same-error', { maxRestarts: 2 });
    play([running([checkpoint(10)]), exited(1, [failed('ValueError: the loss is NaN')])]);
    const errors = [await attempt(activities, req), await attempt(activities, req), await attempt(activities, req)];
    expect(errors.map((e) => e !== 'ok' && e.nonRetryable)).toEqual([false, false, true]);
    expect(String((errors[1] as Error).message)).toMatch(/failure 2 without a new checkpoint, of at most 3/);
    const last = errors[2] as ApplicationFailure;
    expect(last.type).toBe('TrainerJobFailed');
    expect(last.message).toMatch(/failed 3 times in a row with no new checkpoint \(compute.maxRestarts 2\)/);
    expect(last.message).toContain('ValueError: the loss is NaN');
    expect(calls.filter((c) => c === 'release')).toHaveLength(3); // each failed attempt gave its machine back
    expect(calls).not.toContain('cancel'); // nothing to stop: the job had exited
  });

  it('failures with progress between them never run out; the stderr tail speaks when the trainer did not', async () => {
    const { backend, play } = scriptedBackend();
    const activities = trainerOver(backend);
    const req = request('progress', { maxRestarts: 1 });
    for (let k = 1; k <= 4; k++) {
      play([{ ...exited(1, [checkpoint(10 * k)]), stderrTail: 'Traceback...\nRuntimeError: NCCL timeout\n' }]);
      const e = await attempt(activities, req);
      expect(e !== 'ok' && e.nonRetryable).toBe(false);
      expect(String((e as Error).message)).toMatch(/failure 1 without a new checkpoint.*RuntimeError: NCCL timeout/s);
    }
  });

  it("the job's lock still held by a dying trainer (exit 3) is retried without counting as a failure", async () => {
    const { backend, play } = scriptedBackend();
    const activities = trainerOver(backend);
    const req = request('locked', { maxRestarts: 0 });
    play([exited(3, [{ event: 'error', message: 'another trainer holds the lock', retryable: true }])]);
    for (let k = 0; k < 3; k++) {
      const e = (await attempt(activities, req)) as ApplicationFailure;
      expect(e.nonRetryable).toBe(false);
      expect(e.message).toMatch(/is still locked: another trainer holds the lock/);
    }
  });

  it('an exit code after done (a rank that died in its own shutdown) is the done job, not a failure', async () => {
    const { backend, calls, play } = scriptedBackend();
    const activities = trainerOver(backend);
    const req = request('died-after-done', { maxRestarts: 0 });
    // rank 1 aborted while tearing down: torchrun ended rank 0 (already done) and exited 1
    play([running([done]), { ...exited(1), stderrTail: 'terminate called without an active exception\n' }]);
    expect(await attempt(activities, req)).toBe('ok');
    expect(calls).toEqual(['provision', 'launch', 'release']);
  });

  it('a trainer command that would not start is bad input at once (exit 127)', async () => {
    const { backend, play } = scriptedBackend();
    const activities = trainerOver(backend);
    play([{ ...exited(127), stderrTail: 'sh: 1: /opt/venv/bin/python: not found\n' }]);
    const e = (await attempt(activities, request('no-python'))) as ApplicationFailure;
    expect(e.type).toBe('BadInput');
    expect(e.message).toMatch(/could not start the trainer \(exit 127\): sh: 1: \/opt\/venv\/bin\/python: not found/);
    expect(e.message).toContain('compute.python');
  });

  it('a machine that does not answer (or a poll that throws) is waited for within lostGraceSec: no release, no relaunch', async () => {
    const { backend, calls, play } = scriptedBackend();
    const activities = trainerOver(backend);
    const req = request('grace', { lostGraceSec: 5 });
    play([running(), unreachable, new Error('RunPod API 502'), unreachable, running(), exited(0, [done])]);
    expect(await attempt(activities, req)).toBe('ok');
    expect(calls).toEqual(['provision', 'launch', 'release']);
    expect(ledgerOf(req).machines[0].losses ?? []).toEqual([]);
  });

  it('past lostGraceSec the machine is lost: recorded, released, retried (a preemption, not a failure)', async () => {
    const { backend, calls, play } = scriptedBackend();
    const activities = trainerOver(backend);
    const req = request('gone', { lostGraceSec: 1, maxRestarts: 0 });
    play([running(), unreachable]);
    const e = (await attempt(activities, req)) as ApplicationFailure;
    expect(e.nonRetryable).toBe(false);
    expect(e.message).toMatch(/was lost \(no answer for \d+ s: ssh: Connection refused\): preemption/);
    expect(calls).toEqual(['provision', 'launch', 'release']);
    expect(ledgerOf(req).machines[0].losses?.[0].reason).toMatch(/^no answer for/);
  });

  it('a worker shutdown or heartbeat timeout detaches (nothing stopped or released); only a cancelled run stops the job', async () => {
    const outcomes: Record<string, string[]> = {};
    const cancels: Array<[string, () => [CancelReason, ActivityCancellationDetails]]> = [
      ['shutdown', () => ['WORKER_SHUTDOWN', new ActivityCancellationDetails({ workerShutdown: true })]],
      ['heartbeat timeout', () => ['TIMED_OUT', new ActivityCancellationDetails({ timedOut: true })]],
      ['run cancelled', () => ['CANCELLED', new ActivityCancellationDetails({ cancelRequested: true })]],
    ];
    for (const [name, why] of cancels) {
      const { backend, calls, play } = scriptedBackend();
      const activities = trainerOver(backend);
      play([running()]);
      const env = new MockActivityEnvironment();
      const run = env.run(activities.runTraining, request(`cancel-${name.replace(/ /g, '-')}`)).catch((e) => e);
      while (!calls.includes('launch')) await new Promise((r) => setTimeout(r, 20));
      env.cancel(...why());
      expect(String(await run)).toMatch(/Cancelled|CANCELLED|WORKER_SHUTDOWN|TIMED_OUT/);
      outcomes[name] = calls;
    }
    expect(outcomes).toEqual({
      shutdown: ['provision', 'launch'],
      'heartbeat timeout': ['provision', 'launch'],
      'run cancelled': ['provision', 'launch', 'cancel', 'release'],
    });
  });
});
