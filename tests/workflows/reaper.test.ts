import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { ReaperTarget, ReapOutcome } from '../../src/config/reaper-target';
import { MSM_RELEASE_FAILED } from '../../src/temporal/search-attribute-keys';
import { msmReaper } from '../../src/workflows';
import { argsOf, startStubbedEnv, type StubbedEnv } from '../helpers/stubbed-workflows';
import { smallExperiment } from './stub-experiment';

/**
 * msmReaper on a real Temporal server with reapMachines stubbed: every target looked at in order, on the
 * cleanup queue, their outcomes returned together; a failed release flags the pass (MsmReleaseFailed) and a
 * pass with none does not; a malformed start fails as bad input before any activity. Which machine is
 * released or kept is reapMachines's decision: reaper-decisions.test.ts, and reaper.test.ts end to end.
 */
function target(store: string, backend: 'local' | 'ssh' = 'local'): ReaperTarget {
  const compute =
    backend === 'ssh'
      ? { backend, host: 'gpu-1', user: 'msm', identityFile: '/tmp/key', workDir: '/srv/msm' }
      : { backend, device: 'cpu' };
  const x = parseExperiment(smallExperiment({ store, compute }));
  return { storeUri: x.store, compute: x.compute };
}

describe('msmReaper with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  const outcomesOf = new Map<string, ReapOutcome[]>();

  beforeAll(async () => {
    env = await startStubbedEnv({
      'msm-cleanup': { reapMachines: async (t: ReaperTarget) => outcomesOf.get(t.storeUri) ?? [] },
    });
  });
  afterAll(async () => env?.close());

  const released: ReapOutcome = {
    jobId: 'runs_midtrain-1',
    machineId: 'm1',
    workflowId: 'x.midtrain',
    action: 'released',
    reason: 'its workflow is terminated',
  };
  const kept: ReapOutcome = {
    jobId: 'runs_aft-2',
    machineId: 'm2',
    workflowId: 'x.aft',
    action: 'kept',
    reason: 'its workflow is running',
  };
  const unknown: ReapOutcome = {
    jobId: 'someone-elses-job',
    machineId: 'm3',
    action: 'unknown',
    reason: 'no job of this store',
  };
  const failed: ReapOutcome = { ...released, machineId: 'm4', action: 'failed', reason: 'provider API: HTTP 503' };

  it('looks at every target in order on the cleanup queue and returns every outcome; nothing failed, nothing flagged', async () => {
    const a = target('file:///tmp/reaper-a');
    const b = target('file:///tmp/reaper-b', 'ssh');
    outcomesOf.set(a.storeUri, [released, kept]).set(b.storeUri, [unknown]);
    const h = await env.start(msmReaper, 'reaper-pass', { targets: [a, b] });
    expect(await h.result()).toEqual([released, kept, unknown]);
    expect(env.calls.map((c) => [c.queue, c.name, c.arg])).toEqual([
      ['msm-cleanup', 'reapMachines', a],
      ['msm-cleanup', 'reapMachines', b],
    ]);
    expect((await h.describe()).typedSearchAttributes.get(MSM_RELEASE_FAILED)).toBeUndefined();
  });

  it('a release that failed flags the pass (MsmReleaseFailed) and is returned with the others', async () => {
    const a = target('file:///tmp/reaper-failing');
    outcomesOf.set(a.storeUri, [failed, kept]);
    const h = await env.start(msmReaper, 'reaper-failed', { targets: [a] });
    expect(await h.result()).toEqual([failed, kept]);
    expect((await h.describe()).typedSearchAttributes.get(MSM_RELEASE_FAILED)).toBe(true);
  });

  it('a malformed start fails at once as bad input, naming the command that makes a good one; no machine is looked at', async () => {
    env.calls.length = 0;
    const h = await env.client.workflow.start('msmReaper', {
      taskQueue: 'msm',
      workflowId: 'reaper-malformed',
      args: [{ targets: [{ store: 'file:///tmp/x' }] }],
    });
    const err = await h.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect([cause.type, cause.nonRetryable]).toEqual(['BadInput', true]);
    expect(cause.message).toMatch(/msm reaper <experiment-file>/);
    expect(argsOf(env.calls, 'reapMachines')).toEqual([]);
  });
});
