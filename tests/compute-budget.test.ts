import type { Client } from '@temporalio/client';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeBackend } from '../src/compute/backend';
import { createLocalBackend } from '../src/compute/local';
import { pythonExecutable } from '../src/util/project-paths';
import { msmExperiment, progressQuery, setComputeBudgetUpdate } from '../src/workflows';
import { startTemporalWithWorkers, type TemporalTestEnv } from './helpers/in-process-workers';
import { startScriptedLlmServer } from './helpers/scripted-llm-server';
import { scriptedExperiment, waitUntil } from './helpers/scripted-experiment';

/** The real local backend, its machine priced on the cost meter like a rented one: 1 USD a second. */
function pricedLocalBackend(workDir: string): ComputeBackend {
  const inner = createLocalBackend({ workDir, python: pythonExecutable() });
  return {
    ...inner,
    name: inner.name,
    provision: async (jobId) => {
      const m = await inner.provision(jobId);
      return { ...m, details: { ...m.details, gpuCount: 1, pricePerGpuHour: 3600 } };
    },
  };
}

/**
 * compute.budgetUsd on a real Temporal server with the real trainer: once midtraining has cost more than
 * the budget, no AFT run starts until `msm budget --compute` raises it. Terminating the experiment then
 * cancels (not terminates) its running training run, whose cleanup runs.
 */
describe('compute budget and terminate (real Temporal, real trainer)', () => {
  let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
  let env: TemporalTestEnv;
  let client: Client;

  beforeAll(async () => {
    llm = await startScriptedLlmServer();
    env = await startTemporalWithWorkers({
      backend: pricedLocalBackend(mkdtempSync(path.join(os.tmpdir(), 'msm-budget-compute-'))),
    });
    client = env.client;
  }, 120_000);

  afterAll(async () => {
    await env?.close();
    await llm?.close();
  });

  it('pauses new GPU work when the budget is spent, resumes when raised; terminate cancels the runs', async () => {
    const { input } = scriptedExperiment('budget', llm.baseUrl, {
      compute: { backend: 'local', device: 'cpu', budgetUsd: 0.5 },
    });
    input.midtrain = { ...input.midtrain, maxSteps: 2, checkpointEverySteps: 2 };
    // AFT runs long enough to be running when the experiment is terminated.
    input.aft = { ...input.aft, hyper: { ...input.aft.hyper, epochs: 100_000, maxSteps: 1_000_000 } };
    const id = 'budget-experiment';
    const handle = await client.workflow.start(msmExperiment, { taskQueue: 'msm', workflowId: id, args: [input] });

    await waitUntil(async () => (await handle.query(progressQuery)).computeOverBudget === true, 240_000, 'the pause');
    const paused = await handle.query(progressQuery);
    expect(paused.stage).toBe('aft-sweep');
    expect(paused.compute!.costUsd!).toBeGreaterThanOrEqual(0.5);
    // Nothing started: no AFT run exists while paused.
    await new Promise((r) => setTimeout(r, 1500));
    const children = [];
    for await (const w of client.workflow.list({ query: `WorkflowType = 'trainingRun'` })) children.push(w.workflowId);
    expect(children).toEqual([`${id}.midtrain`]);

    expect(await handle.executeUpdate(setComputeBudgetUpdate, { args: [1e6] })).toBe(1e6);
    let aftId: string | undefined;
    await waitUntil(
      async () => {
        for await (const w of client.workflow.list({ query: `WorkflowType = 'trainingRun'` }))
          if (w.workflowId.startsWith(`${id}.aft-`)) aftId = w.workflowId;
        return aftId !== undefined;
      },
      60_000,
      'an AFT run to start once the budget is raised',
      500,
    );
    expect((await handle.query(progressQuery)).computeOverBudget).toBe(false);
    const aft = client.workflow.getHandle(aftId!);

    await handle.terminate('a person pressed Terminate');
    // The child is cancelled (its cleanup runs: the job is stopped and its machine released), not terminated.
    await waitUntil(async () => (await aft.describe()).status.name !== 'RUNNING', 90_000, 'the AFT run to end');
    expect((await aft.describe()).status.name).toBe('CANCELLED');
  }, 400_000);
});
