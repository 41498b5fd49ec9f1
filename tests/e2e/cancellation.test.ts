import { WorkflowFailedError, type Client } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeBackend } from '../../src/compute/backend';
import { createLocalBackend } from '../../src/compute/local';
import { pythonExecutable } from '../../src/util/project-paths';
import { msmExperiment } from '../../src/workflows';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { scriptedExperiment, waitUntil } from '../helpers/scripted-experiment';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { alive } from '../helpers/process-alive';

/** The real local backend, with a ledger of what was provisioned, cancelled and released. */
function recordingBackend(workDir: string) {
  const inner = createLocalBackend({ workDir, python: pythonExecutable() });
  const ledger = { provisioned: [] as string[], released: [] as string[], cancelled: [] as string[] };
  const backend: ComputeBackend = {
    name: inner.name,
    provision: async (jobId) => (ledger.provisioned.push(jobId), inner.provision(jobId)),
    launch: (m, manifest) => inner.launch(m, manifest),
    poll: (m, jobId, from) => inner.poll(m, jobId, from),
    cancel: async (m, jobId) => (ledger.cancelled.push(jobId), inner.cancel(m, jobId)),
    release: async (m) => (ledger.released.push(m.machineId), inner.release(m)),
  };
  return { backend, ledger };
}

describe('cancelling an experiment on a real Temporal server', () => {
  let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
  let env: TemporalTestEnv;
  let client: Client;
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'msm-cancel-compute-'));
  const { backend, ledger } = recordingBackend(workDir);

  beforeAll(async () => {
    llm = await startScriptedLlmServer();
    env = await startTemporalWithWorkers({ backend });
    client = env.client;
  });

  afterAll(async () => {
    await env?.close();
    await llm?.close();
  });

  it('stops the running trainer job and releases its machine', async () => {
    // Midtraining long enough that it is surely still running when the cancel arrives.
    const { input } = scriptedExperiment('cancel', llm.baseUrl);
    input.midtrain = { ...input.midtrain, epochs: 100_000, maxSteps: 1_000_000, checkpointEverySteps: 1000 };
    const handle = await client.workflow.start(msmExperiment, {
      taskQueue: 'msm',
      workflowId: 'cancel-mid-training',
      args: [input],
    });

    const jobs = path.join(workDir, 'jobs');
    let pid = 0;
    await waitUntil(
      () => {
        const dir = existsSync(jobs) ? readdirSync(jobs).find((d) => d.startsWith('runs_midtrain')) : undefined;
        const events = dir && path.join(jobs, dir, 'events.jsonl');
        if (!events || !existsSync(events) || !readFileSync(events, 'utf8').includes('"progress"')) return false;
        pid = Number(readFileSync(path.join(jobs, dir, 'pid'), 'utf8').split(' ')[0]);
        return true;
      },
      180_000,
      'midtraining to make progress',
    );
    expect(alive(pid)).toBe(true);

    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

    // The job's whole process group is gone, and every machine provisioned was released.
    await waitUntil(() => !alive(pid), 30_000, 'the trainer process to exit');
    expect(ledger.cancelled.some((j) => j.startsWith('runs_midtrain'))).toBe(true);
    expect(ledger.provisioned.length).toBeGreaterThan(0);
    expect(ledger.released.length).toBe(ledger.provisioned.length);
    const midtrain = await client.workflow.getHandle('cancel-mid-training.midtrain').describe();
    expect(midtrain.status.name).toBe('CANCELLED');
  }, 300_000);
});
