import { ApplicationFailure } from '@temporalio/common';
import { midtrainHyper } from '../../src/config/midtrain';
import { WorkflowFailedError } from '@temporalio/client';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainRequest } from '../../src/activities/types';
import { ComputeConfigError, type ComputeBackend } from '../../src/compute/backend';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { ComputeLedger } from '../../src/cost/compute-usage';
import { renderWatch } from '../../src/watch/render';
import { trainingRun } from '../../src/workflows';
import { MSM_RELEASE_FAILED } from '../../src/temporal/search-attribute-keys';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { waitUntil } from '../helpers/scripted-experiment';

/**
 * A provider whose release fails, on a real Temporal server: the job's image will not start (bad input),
 * and giving the machine back fails too. The failure is recorded in the job's ledger and flagged on the
 * run (MsmReleaseFailed), never swallowed; a release that fails for a while and then works is retried
 * until it does, and the ledger then says released.
 */
let root: string;
let env: TemporalTestEnv;
/** What releaseJob does on each call, in order; afterwards it succeeds. */
let releaseScript: Array<'refused' | 'unavailable'> = [];
let releaseJobCalls = 0;

const backend: ComputeBackend = {
  name: 'scripted-provider',
  provision: async (jobId) => ({
    backend: 'scripted-provider',
    machineId: `m-${jobId.slice(-8)}`,
    details: { gpuCount: 1, pricePerGpuHour: 2 },
  }),
  launch: async () => {
    throw ApplicationFailure.nonRetryable('the image will not start', 'BadInput');
  },
  poll: async () => ({ state: 'lost', events: [], nextCursor: 0 }),
  cancel: async () => undefined,
  release: async () => {
    throw new Error('provider API: HTTP 503');
  },
  releaseJob: async () => {
    releaseJobCalls++;
    const next = releaseScript.shift();
    if (next === 'refused') throw new ComputeConfigError('the API key was refused');
    if (next === 'unavailable') throw new Error('provider API: HTTP 503');
    return 1;
  },
};

function request(label: string): TrainRequest {
  const x = parseExperiment({
    name: 'release-test',
    spec: 'specs/demo.md',
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
  });
  return {
    kind: 'midtrain',
    storeUri: pathToFileURL(path.join(root, 'store')).href,
    label,
    data: { uri: 'file:///unused', tokenizerUri: 'file:///unused', numSequences: 1, numTokens: 1, seqLen: 8 },
    seed: 0,
    experiment: { baseModel: x.baseModel, compute: x.compute },
    hyper: midtrainHyper(x.midtrain),
  } as unknown as TrainRequest;
}

/** Every message down a failure's cause chain. */
const messages = (e: unknown): string => (e instanceof Error ? `${e.message} / ${messages(e.cause)}` : '');

const ledgerOf = (label: string): ComputeLedger => {
  const runs = path.join(root, 'store', 'runs');
  const dir = readdirSync(runs).find((d) => d.startsWith(`${label}-`))!;
  return JSON.parse(readFileSync(path.join(runs, dir, 'compute', 'ledger.json'), 'utf8')) as ComputeLedger;
};

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-release-test-'));
  env = await startTemporalWithWorkers({ backend, stateDir: path.join(root, 'state') });
}, 120_000);

afterAll(async () => {
  await env?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('a failed release (real Temporal)', () => {
  it('is recorded in the ledger and flagged on the run, and the run still fails with its own error', async () => {
    releaseScript = ['refused', 'refused'];
    const h = await env.client.workflow.start(trainingRun, {
      taskQueue: 'msm',
      workflowId: 'release-refused',
      args: [request('refused')],
    });
    const err = await h.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(messages(err)).toMatch(/the image will not start/);
    const d = await h.describe();
    expect(d.typedSearchAttributes.get(MSM_RELEASE_FAILED)).toBe(true);
    const [machine] = ledgerOf('refused').machines;
    expect(machine.releasedAt).toBeUndefined();
    expect(machine.releaseFailed?.error).toMatch(/API key was refused/);
    await waitUntil(
      async () => {
        for await (const w of env.client.workflow.list({ query: 'MsmReleaseFailed = true' }))
          if (w.workflowId === 'release-refused') return true;
        return false;
      },
      20_000,
      'the run to be listed as MsmReleaseFailed',
      250,
    );
    expect(
      renderWatch({
        workflowId: 'x',
        status: 'FAILED',
        elapsedMs: 0,
        progress: { stage: 'failed', paused: false, cells: [], sweepConcurrency: 1 },
        releaseFailed: ['release-refused'],
      }),
    ).toMatch(/RELEASE FAILED: 1 run/);
  }, 60_000);

  it('is retried on the cleanup queue until the provider answers; the ledger then says released', async () => {
    releaseScript = ['unavailable', 'unavailable', 'unavailable'];
    releaseJobCalls = 0;
    const h = await env.client.workflow.start(trainingRun, {
      taskQueue: 'msm',
      workflowId: 'release-retried',
      args: [request('retried')],
    });
    await h.result().catch(() => undefined);
    // One call from the attempt's own release, then the cleanup's attempts until one succeeds.
    expect(releaseJobCalls).toBe(4);
    expect((await h.describe()).typedSearchAttributes.get(MSM_RELEASE_FAILED)).toBeUndefined();
    const [machine] = ledgerOf('retried').machines;
    expect(machine.releasedAt).toBeDefined();
    expect(machine.releaseFailed).toBeUndefined();
  }, 60_000);
});
