import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenizedRef, TrainRequest, TrainResult } from '../../src/activities/types';
import type { ComputeLedger } from '../../src/cost/compute-usage';
import { createRunpodBackend } from '../../src/compute/runpod';
import { parseExperiment, type Experiment } from '../../src/config/experiment-schema';
import { pythonExecutable } from '../../src/util/project-paths';
import { trainingRun } from '../../src/workflows';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { waitUntil } from '../helpers/scripted-experiment';
import { startScriptedRunpod, type ScriptedRunpod } from '../helpers/scripted-runpod';
import { Sshd } from '../helpers/sshd';
import { TINY_MODEL, writeTinyDataset, midtrainRequest } from '../helpers/tiny-trainer-job';
import { alive, processTree, signalAll } from '../helpers/process-alive';

/**
 * The runpod backend on a real Temporal server with the real trainer: a scripted RunPod API whose pods
 * are a real sshd on loopback, so provisioning goes through the API and launch/poll/cancel run over SSH.
 */
const KEY_ENV = 'MSM_TEST_RUNPOD_API_KEY';
const GPUS = 2;
const POD_COST_PER_HOUR = 6; // what the API reports for the whole pod: 3 USD per GPU-hour

let root: string;
let data: TokenizedRef;
let sshd: Sshd;
let runpod: ScriptedRunpod;
let env: TemporalTestEnv;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-runpod-test-'));
  data = await writeTinyDataset(path.join(root, 'data'));
  sshd = await Sshd.start();
  runpod = await startScriptedRunpod({ sshPort: sshd.port, costPerHr: POD_COST_PER_HOUR });
  process.env[KEY_ENV] = runpod.apiKey;
  env = await startTemporalWithWorkers({ stateDir: path.join(root, 'state') });
}, 120_000);

afterAll(async () => {
  await env?.close();
  await runpod?.close();
  await sshd?.stop();
  delete process.env[KEY_ENV];
  rmSync(root, { recursive: true, force: true });
});

function request(label: string, hyper: Partial<Experiment['midtrain']>): TrainRequest {
  const x = parseExperiment({
    name: 'runpod-test',
    spec: 'specs/demo.md',
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
    baseModel: TINY_MODEL,
    compute: {
      backend: 'runpod',
      device: 'cpu',
      baseUrl: runpod.baseUrl,
      apiKeyEnv: KEY_ENV,
      gpuType: 'NVIDIA H100 80GB HBM3',
      gpuCount: GPUS,
      cloudType: 'COMMUNITY',
      image: 'runpod/pytorch:2.8.0-py3.11-cuda12.8.1',
      pricePerHour: 1, // the API's reported cost wins
      user: sshd.user,
      identityFile: sshd.identityFile,
      workDir: path.join(root, 'remote'),
      python: pythonExecutable(),
      connectTimeoutSec: 2,
      statusCheckSec: 1,
      capacityRetrySec: 2,
    },
    midtrain: { loraR: 4, loraAlpha: 8, lr: 1e-2, warmupRatio: 0.1, batchSize: 4, epochs: 1000, ...hyper },
  });
  return midtrainRequest(path.join(root, 'store'), label, data, x);
}

const start = (id: string, req: TrainRequest) =>
  env.client.workflow.start(trainingRun, { taskQueue: 'msm', workflowId: id, args: [req] });

const jobDir = (label: string) => {
  const jobs = path.join(root, 'remote', 'jobs');
  const d = existsSync(jobs) ? readdirSync(jobs).find((x) => x.startsWith(`runs_${label}-`)) : undefined;
  return d && path.join(jobs, d);
};
const events = (label: string) => {
  const d = jobDir(label);
  return d && existsSync(path.join(d, 'events.jsonl')) ? readFileSync(path.join(d, 'events.jsonl'), 'utf8') : '';
};
const ledgerOf = (r: TrainResult) =>
  JSON.parse(readFileSync(path.join(root, 'store', r.runKey, 'compute', 'ledger.json'), 'utf8')) as ComputeLedger;
const podsOf = (label: string) => runpod.pods.filter((p) => p.name.startsWith(`msm-runs_${label}-`));
/** Every message down a failure's cause chain. */
const messages = (e: unknown): string => (e instanceof Error ? `${e.message} / ${messages(e.cause)}` : '');
describe('runpod compute backend (scripted RunPod API, pods = real sshd, real trainer, real Temporal)', () => {
  it('no capacity on create is retried later; then provision → train → release, metered at the API price', async () => {
    runpod.failCreates(1);
    const r = await start('runpod-done', request('done', { maxSteps: 12, checkpointEverySteps: 6 })).then((h) =>
      h.result(),
    );
    expect(r.metrics.steps).toBe(12);

    // The first create met no capacity; the retry waited capacityRetrySec (2 s) and got a pod.
    const creates = runpod.calls.filter((c) => c.method === 'POST' && c.path === '/v2/pods');
    expect(creates.map((c) => c.status)).toEqual([400, 201]);
    // Each create was preceded by a look at the catalog's stock.
    expect(runpod.calls.filter((c) => c.path.startsWith('/v2/catalog/gpus?')).length).toBeGreaterThanOrEqual(2);
    expect(creates[1].at - creates[0].at).toBeGreaterThanOrEqual(1900);

    const [pod] = podsOf('done');
    expect(podsOf('done')).toHaveLength(1);
    expect(pod.body).toMatchObject({
      image: 'runpod/pytorch:2.8.0-py3.11-cuda12.8.1',
      gpu: { id: 'NVIDIA H100 80GB HBM3', count: GPUS },
      cloud: 'COMMUNITY',
      disk: 50, // the tiny random model's estimate is below the configured floor
      ports: ['22/tcp'],
    });
    expect((pod.body.env as Record<string, string>).PUBLIC_KEY).toBe(
      readFileSync(`${sshd.identityFile}.pub`, 'utf8').trim(),
    );
    expect(pod.deletedAt).toBeDefined(); // released

    const ledger = ledgerOf(r);
    expect(ledger.machines).toHaveLength(1);
    expect(ledger.machines[0]).toMatchObject({
      machineId: pod.id,
      backend: 'runpod',
      gpuCount: GPUS,
      pricePerGpuHour: POD_COST_PER_HOUR / GPUS,
    });
    const c = r.compute!;
    expect(c).toMatchObject({ machines: 1, preemptions: 0, gpuHoursLost: 0 });
    const billedHours =
      (Date.parse(ledger.machines[0].releasedAt!) - Date.parse(ledger.machines[0].provisionedAt)) / 3_600_000;
    expect(billedHours).toBeGreaterThan(0);
    expect(c.gpuHours).toBeCloseTo(billedHours * GPUS, 9);
    expect(c.costUsd).toBeCloseTo(billedHours * GPUS * (POD_COST_PER_HOUR / GPUS), 9);
    // Billed from before the create call to after the delete call.
    expect(Date.parse(ledger.machines[0].provisionedAt)).toBeLessThanOrEqual(creates[1].at);
    expect(Date.parse(ledger.machines[0].releasedAt!)).toBeGreaterThanOrEqual(pod.deletedAt! - 1000);
  }, 180_000);

  it('the provider reclaims the pod mid-job: re-provision, resume from the checkpoint, count the preemption and the GPU time lost', async () => {
    const handle = await start('runpod-preempt', request('preempt', { maxSteps: 40, checkpointEverySteps: 10 }));
    // Freeze the job as soon as its first checkpoint is written, so the reclaim always lands mid-training
    // (a tiny job can finish within one worker poll). A stopped process writes no further events.
    await waitUntil(() => events('preempt').includes('"checkpoint"'), 120_000, 'the first checkpoint', 5);
    const pid = Number(readFileSync(path.join(jobDir('preempt')!, 'pid'), 'utf8').split(' ')[0]);
    // The job is torchrun and its 2 ranks (gpuCount 2 is the world size), each rank in a session of its own.
    const job = processTree(pid);
    expect(job.length).toBeGreaterThanOrEqual(4); // wrapper, torchrun, 2 ranks
    signalAll(job, 'SIGSTOP');
    // Reclaim once the worker has seen that checkpoint (the ledger says so), so the lost work is measured from it.
    const ledgerFile = () => {
      const runs = path.join(root, 'store', 'runs');
      const d = existsSync(runs) ? readdirSync(runs).find((x) => x.startsWith('preempt-')) : undefined;
      const f = d && path.join(runs, d, 'compute', 'ledger.json');
      return f && existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as ComputeLedger) : undefined;
    };
    await waitUntil(
      () => {
        const m = ledgerFile()?.machines[0];
        return !!m?.workSince && !!m.launchedAt && m.workSince > m.launchedAt;
      },
      120_000,
      'the worker to see a checkpoint',
    );
    expect(events('preempt')).not.toContain('"done"'); // the loss is real: the job had not finished
    const [first] = podsOf('preempt');
    // The spot pod is taken back: the API says TERMINATED and its processes die with it.
    runpod.reclaim(first.id);
    // The machine is gone: its processes with it. Killing torchrun alone would do (the ranks die with it,
    // PR_SET_PDEATHSIG), but a stopped rank only dies once continued or killed itself.
    signalAll(job, 'SIGKILL');

    const r = await handle.result();
    expect(r.metrics.steps).toBe(40);
    expect(r.resumedFromStep).toBeGreaterThan(0);
    const pods = podsOf('preempt');
    expect(pods).toHaveLength(2);
    expect(pods.every((p) => p.deletedAt !== undefined)).toBe(true);

    const c = r.compute!;
    expect(c.preemptions).toBe(1);
    expect(c.machines).toBe(2);
    expect(c.gpuHoursLost).toBeGreaterThan(0);
    const lostPod = ledgerOf(r).machines.find((m) => m.losses?.length)!;
    expect(lostPod.machineId).toBe(first.id);
    const [loss] = lostPod.losses!;
    expect(loss.reason).toContain(`RunPod reports pod ${first.id} TERMINATED`);
    // Lost work: from the newest checkpoint seen (a checkpoint came before the kill) to the detection.
    expect(Date.parse(loss.workSince)).toBeGreaterThan(Date.parse(lostPod.launchedAt!));
    expect(c.gpuHoursLost).toBeCloseTo(((Date.parse(loss.at) - Date.parse(loss.workSince)) / 3_600_000) * GPUS, 9);
  }, 480_000);

  it('a run that fails (the trainer rejects its input) still deletes its pod', async () => {
    const req = request('fails', { maxSteps: 4 });
    req.data = {
      ...req.data,
      manifestUri: pathToFileURL(path.join(root, 'missing', 'manifest.json')).href,
      sha256: 'missing',
    };
    const err = await start('runpod-fails', req)
      .then((h) => h.result())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(messages(err)).toContain('rejected its input');
    const pods = podsOf('fails');
    expect(pods).toHaveLength(1); // bad input is not retried: one rental
    expect(pods[0].deletedAt).toBeDefined();
  }, 120_000);

  it('cancelling the run stops the job and deletes its pod (non-cancellable cleanup)', async () => {
    const handle = await start('runpod-cancel', request('cancel', { maxSteps: 1_000_000, checkpointEverySteps: 1000 }));
    await waitUntil(() => events('cancel').includes('"progress"'), 120_000, 'the job to make progress');
    const pid = Number(readFileSync(path.join(jobDir('cancel')!, 'pid'), 'utf8').split(' ')[0]);
    expect(alive(pid)).toBe(true);
    const cancelledAt = Date.now();
    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

    // The workflow's cleanup ran after the cancel: it looked the pod up by the job's name and deleted it.
    const [pod] = podsOf('cancel');
    expect(pod.deletedAt).toBeDefined();
    expect(runpod.calls.some((c) => c.method === 'GET' && c.path === '/v2/pods' && c.at >= cancelledAt)).toBe(true);
    await waitUntil(() => !alive(pid), 30_000, 'the trainer to exit');
    expect(runpod.live()).toEqual([]);
  }, 180_000);

  it("a retry finds the job's pod by name and re-attaches (no second rental); a stopped one is replaced; releaseJob frees all", async () => {
    const backend = createRunpodBackend({
      baseUrl: runpod.baseUrl,
      apiKey: () => runpod.apiKey,
      apiKeyEnv: KEY_ENV,
      gpuType: 'NVIDIA A40',
      gpuCount: 1,
      cloudType: 'SECURE',
      image: 'img',
      containerDiskGb: 20,
      pricePerGpuHour: 0.5,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHostsDir: path.join(root, 'state', 'ssh', 'runpod'),
      workDir: path.join(root, 'remote'),
      python: pythonExecutable(),
      connectTimeoutSec: 2,
      startTimeoutSec: 30,
      statusCheckSec: 1,
      capacityRetrySec: 1,
      readyPollMs: 200,
    });
    const a = await backend.provision('reattach');
    const b = await backend.provision('reattach'); // a retry after a worker crash
    expect(b.machineId).toBe(a.machineId);
    const named = runpod.pods.filter((p) => p.name === 'msm-reattach');
    expect(named).toHaveLength(1);
    // The API's cost per hour for the pod (1 GPU) wins over the configured 0.5 per GPU-hour.
    expect(a.details.pricePerGpuHour).toBe(POD_COST_PER_HOUR);

    runpod.reclaim(a.machineId);
    runpod.setCostPerHr(0);
    const c = await backend.provision('reattach').finally(() => runpod.setCostPerHr(POD_COST_PER_HOUR));
    expect(c.machineId).not.toBe(a.machineId);
    expect(c.details.pricePerGpuHour).toBe(0.5); // no price from the API: the configured one
    expect(runpod.pods.find((p) => p.id === a.machineId)!.deletedAt).toBeDefined(); // the stopped pod was terminated
    expect(await backend.releaseJob!('reattach')).toBe(1);
    expect(runpod.live().filter((p) => p.name === 'msm-reattach')).toEqual([]);
  }, 60_000);

  it('says what to fix when the API key is missing or refused', async () => {
    const req = request('nokey', { maxSteps: 2 });
    const saved = process.env[KEY_ENV];
    delete process.env[KEY_ENV];
    try {
      const err = await start('runpod-nokey', req)
        .then((h) => h.result())
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(messages(err)).toContain(`the environment variable ${KEY_ENV} (the RunPod API key) is not set`);
    } finally {
      process.env[KEY_ENV] = saved;
    }
  }, 60_000);
});
