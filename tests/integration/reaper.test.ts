import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { midtrainHyper } from '../../src/config/midtrain';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainRequest } from '../../src/activities/types';
import { reaperCommand, REAPER_SCHEDULE_ID } from '../../src/cli/reaper-command';
import { RunpodApi } from '../../src/compute/runpod-api';
import { parseExperiment } from '../../src/config/experiment-schema';
import { trainingRun } from '../../src/workflows';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { waitUntil } from '../helpers/scripted-experiment';
import { startScriptedRunpod, type ScriptedRunpod } from '../helpers/scripted-runpod';

/**
 * The reaper on a real Temporal server against the scripted RunPod API. Pods that never boot keep their
 * trainingRun's activity in provisioning: terminating that workflow then leaves the pod behind exactly as
 * a terminated run with a dead worker does (nothing will release it). The reaper, started by the CLI once
 * and by its Schedule, releases that pod and leaves the pod of a run that is still open alone.
 */
const KEY_ENV = 'MSM_TEST_REAPER_RUNPOD_KEY';

let root: string;
let runpod: ScriptedRunpod;
let env: TemporalTestEnv;
let experimentFile: string;

function experimentRaw() {
  return {
    name: 'reaper-test',
    spec: 'specs/demo.md',
    store: path.join(root, 'store'),
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
    compute: {
      backend: 'runpod',
      device: 'cpu',
      baseUrl: runpod.baseUrl,
      apiKeyEnv: KEY_ENV,
      gpuType: 'NVIDIA H100 80GB HBM3',
      gpuCount: 1,
      cloudType: 'COMMUNITY',
      image: 'runpod/pytorch:2.8.0-py3.11-cuda12.8.1',
      identityFile: path.join(root, 'key'),
      workDir: path.join(root, 'remote'),
      // The pods never boot: provisioning waits (heartbeating) until the pod is gone.
      startTimeoutSec: 3600,
      statusCheckSec: 1,
    },
  };
}

function request(label: string): TrainRequest {
  const x = parseExperiment(experimentRaw());
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

const podOf = (label: string) => runpod.pods.find((p) => p.name.startsWith(`msm-runs_${label}-`));
const gone = (label: string) => podOf(label)?.deletedAt !== undefined;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-reaper-test-'));
  writeFileSync(path.join(root, 'key'), 'not used: the pods never boot\n');
  writeFileSync(path.join(root, 'key.pub'), 'ssh-ed25519 AAAA reaper-test\n');
  runpod = await startScriptedRunpod({ sshPort: 1, stepPolls: 1e9 });
  process.env[KEY_ENV] = runpod.apiKey;
  experimentFile = path.join(root, 'experiment.json');
  writeFileSync(experimentFile, JSON.stringify(experimentRaw()));
  env = await startTemporalWithWorkers({ stateDir: path.join(root, 'state') });
}, 120_000);

afterAll(async () => {
  // Every pod deleted: the stuck provisioning activities end (their pod is gone) and the workers stop.
  const api = runpod && new RunpodApi({ baseUrl: runpod.baseUrl, apiKey: runpod.apiKey });
  for (const p of runpod?.live() ?? []) await api.terminatePod(p.id);
  await env?.close();
  await runpod?.close();
  delete process.env[KEY_ENV];
  rmSync(root, { recursive: true, force: true });
});

describe('msm reaper (real Temporal, scripted RunPod API)', () => {
  it('releases the pod of a terminated run, keeps the pod of a running one and a pod it does not know', async () => {
    const { client } = env;
    const leaked = await client.workflow.start(trainingRun, {
      taskQueue: 'msm',
      workflowId: 'reaper-leaked',
      args: [request('leaked')],
    });
    await client.workflow.start(trainingRun, { taskQueue: 'msm', workflowId: 'reaper-live', args: [request('live')] });
    await waitUntil(() => !!podOf('leaked') && !!podOf('live'), 60_000, 'both runs to rent a pod');
    // Another project's pod with msm's prefix: no job of this store, so not ours to release.
    await new RunpodApi({ baseUrl: runpod.baseUrl, apiKey: runpod.apiKey }).createPod({
      name: 'msm-someone-elses-job',
      image: 'x',
      gpu: { id: 'NVIDIA H100 80GB HBM3', count: 1 },
      cloud: 'SECURE',
      disk: 10,
      ports: ['22/tcp'],
      env: {},
    });
    await leaked.terminate('a person pressed Terminate');

    const outcomes = (await reaperCommand(client, [experimentFile], { once: true }))!;
    const byPod = new Map(outcomes.map((o) => [o.machineId, o]));
    expect(byPod.get(podOf('leaked')!.id)).toMatchObject({ action: 'released', workflowId: 'reaper-leaked' });
    expect(byPod.get(podOf('live')!.id)).toMatchObject({ action: 'kept', workflowId: 'reaper-live' });
    expect(outcomes.find((o) => o.jobId === 'someone-elses-job')?.action).toBe('unknown');
    expect(gone('leaked')).toBe(true);
    expect(gone('live')).toBe(false);

    // The Schedule: created (again: updated), then its next pass reaps the run terminated meanwhile.
    await reaperCommand(client, [experimentFile], { every: '10m' });
    await reaperCommand(client, [experimentFile], { every: '10m' });
    const schedule = client.schedule.getHandle(REAPER_SCHEDULE_ID);
    const d = await schedule.describe();
    expect(d.action.type === 'startWorkflow' && d.action.workflowType).toBe('msmReaper');
    await client.workflow.getHandle('reaper-live').terminate('done with it');
    await schedule.trigger();
    await waitUntil(() => gone('live'), 60_000, "the scheduled reaper to release the terminated run's pod");
    expect(runpod.live().map((p) => p.name)).toEqual(['msm-someone-elses-job']);
    await schedule.delete();
  }, 180_000);
});
