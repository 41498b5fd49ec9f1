import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { TokenizedRef, TrainRequest, TrainResult } from '../../src/activities/types';
import { parseExperiment, type Experiment } from '../../src/config/experiment-schema';
import type { ComputeLedger } from '../../src/cost/compute-usage';
import { runKeyOf } from '../../src/training/run-request';
import { pythonExecutable } from '../../src/util/project-paths';
import { trainingRun } from '../../src/workflows';
import { sessionMembers } from '../helpers/job-processes';
import { startScriptedRunpod, type ScriptedRunpod } from '../helpers/scripted-runpod';
import { waitUntil } from '../helpers/scripted-experiment';
import { Sshd } from '../helpers/sshd';
import { TestTemporalServer } from '../helpers/temporal-server';
import { TINY_MODEL, writeTinyDataset, midtrainRequest } from '../helpers/tiny-trainer-job';
import { WorkerProcess } from '../helpers/worker-process';

/**
 * Jobs outlive their worker, by design: a worker stopped the way docker stop or Ctrl-C stops it (SIGTERM)
 * lets its activities go after MSM_SHUTDOWN_GRACE_SEC; the trainer activity then detaches (nothing
 * cancelled, nothing released) and the next attempt, on a new worker, re-attaches to the same job.
 * Real Temporal server, real worker processes, real trainer; on the local backend, over ssh (a real sshd)
 * and on a RunPod pod (the scripted RunPod API, whose pods are that sshd).
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-shutdown-'));
let server: TestTemporalServer;
let client: Client;
let data: TokenizedRef;
const workers: WorkerProcess[] = [];
let jobPid: number | undefined;
let sshd: Sshd;
let runpod: ScriptedRunpod;
const KEY_ENV = 'MSM_TEST_SHUTDOWN_RUNPOD_KEY';

beforeAll(async () => {
  process.env.MSM_TORCH_THREADS = '1'; // the in-process baseline's trainer inherits it
  [server, data, sshd] = await Promise.all([
    TestTemporalServer.start(),
    writeTinyDataset(path.join(root, 'data')),
    Sshd.start(),
  ]);
  runpod = await startScriptedRunpod({ sshPort: sshd.port });
  process.env[KEY_ENV] = runpod.apiKey; // the worker processes inherit it
  client = new Client({ connection: await Connection.connect({ address: server.address }) });
});

afterAll(async () => {
  for (const w of workers) await w.kill();
  if (jobPid) {
    try {
      process.kill(-jobPid, 'SIGCONT');
      process.kill(-jobPid, 'SIGKILL');
    } catch {
      // exited
    }
  }
  await client?.connection.close();
  await server?.down();
  await runpod?.close();
  await sshd?.stop();
  delete process.env[KEY_ENV];
  rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

type Compute = Record<string, unknown> & { backend: Experiment['compute']['backend'] };

/** The three backends; `workDir` keeps each run's remote job folders apart (the job id is the run's). */
const backends: Record<string, (workDir: string) => Compute> = {
  local: () => ({ backend: 'local' }),
  ssh: (workDir) => ({
    backend: 'ssh',
    host: '127.0.0.1',
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    workDir,
    python: pythonExecutable(),
    connectTimeoutSec: 2,
  }),
  runpod: (workDir) => ({
    backend: 'runpod',
    baseUrl: runpod.baseUrl,
    apiKeyEnv: KEY_ENV,
    gpuType: 'NVIDIA H100 80GB HBM3',
    gpuCount: 1,
    cloudType: 'COMMUNITY',
    image: 'runpod/pytorch:2.8.0-py3.11-cuda12.8.1',
    user: sshd.user,
    identityFile: sshd.identityFile,
    workDir,
    python: pythonExecutable(),
    connectTimeoutSec: 2,
    statusCheckSec: 1,
    capacityRetrySec: 2,
  }),
};

function request(store: string, compute: Compute): TrainRequest {
  const x = parseExperiment({
    name: 'shutdown-test',
    spec: 'specs/demo.md',
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
    baseModel: TINY_MODEL,
    compute: { device: 'cpu', ...compute },
    midtrain: {
      loraR: 4,
      loraAlpha: 8,
      lr: 1e-2,
      warmupRatio: 0.1,
      batchSize: 4,
      maxSteps: 40,
      epochs: 1000,
      checkpointEverySteps: 10,
    },
  });
  return midtrainRequest(store, 'shutdown', data, x);
}

/** The job folder the backend made: under MSM_STATE_DIR/compute/jobs/ (local), under workDir/jobs (remote). */
function jobDir(jobs: string): string | undefined {
  const name = existsSync(jobs) ? readdirSync(jobs).find((d) => d.startsWith('runs_shutdown-')) : undefined;
  return name && path.join(jobs, name);
}

const wrapperPid = (dir: string) => Number(readFileSync(path.join(dir, 'pid'), 'utf8').split(' ')[0]);

/**
 * The same job run once uninterrupted, on the local backend (its own store and state): every backend runs
 * the same trainer on this machine, so each detached-and-reattached run must end on its loss. Started with
 * the first case, so it overlaps that case's waits.
 */
let baselineRun: Promise<TrainResult> | undefined;
const uninterrupted = (): Promise<TrainResult> =>
  (baselineRun ??= new MockActivityEnvironment().run(
    createTrainerActivities({ stateDir: path.join(root, 'baseline-state') }).runTraining,
    request(path.join(root, 'baseline-store'), backends.local('')),
  ) as Promise<TrainResult>); // (typed: the mock environment's run() returns unknown)

describe('a worker stopped mid-training (SIGTERM)', () => {
  it.each(['local', 'ssh', 'runpod'])(
    '%s backend: the trainer keeps running, nothing is released, a new worker re-attaches; one launch, the uninterrupted loss',
    async (name) => {
      const stateDir = path.join(root, name, 'state');
      const store = path.join(root, name, 'store');
      const compute = backends[name](path.join(root, name, 'remote'));
      const jobs =
        compute.backend === 'local' ? path.join(stateDir, 'compute', 'jobs') : path.join(root, name, 'remote', 'jobs');
      const req = request(store, compute);
      void uninterrupted().catch(() => undefined); // awaited below; a failure is reported there
      const podsBefore = runpod.pods.length;
      const env = { MSM_STATE_DIR: stateDir, MSM_SHUTDOWN_GRACE_SEC: '2', MSM_TORCH_THREADS: '1' };
      const first = await WorkerProcess.start(server.address, env);
      workers.push(first);
      const handle = await client.workflow.start(trainingRun, {
        taskQueue: 'msm',
        workflowId: `worker-shutdown-${name}`,
        args: [req],
      });
      const checkpoints = path.join(store, runKeyOf(req), 'checkpoints');
      await waitUntil(
        () =>
          existsSync(checkpoints) &&
          readdirSync(checkpoints).some((d) => existsSync(path.join(checkpoints, d, 'COMPLETE'))),
        120_000,
        'a complete checkpoint',
      ).catch(async (e: unknown) => {
        const d = jobDir(jobs);
        const stderr =
          d && existsSync(path.join(d, 'stderr.log')) ? readFileSync(path.join(d, 'stderr.log'), 'utf8') : '';
        const history = JSON.stringify((await handle.fetchHistory()).events?.slice(-3));
        throw new Error(
          `${(e as Error).message}\nworker: ${first.log.join('').slice(-3000)}\njob: ${stderr.slice(-2000)}\n${history.slice(-3000)}`,
        );
      });
      const dir = jobDir(jobs)!;
      jobPid = wrapperPid(dir);
      // Paused from here until the new worker is up, so the job is mid-way whatever the machine's speed: a
      // cancel would still end it (SIGKILL ends a stopped process), a detach leaves it be.
      process.kill(-jobPid, 'SIGSTOP');

      await first.kill('SIGTERM'); // returns once the worker process has exited
      expect(first.child.exitCode).toBe(0);
      expect(sessionMembers(jobPid).length).toBeGreaterThanOrEqual(2); // the wrapper and its trainer, not zombies
      const ledgerFile = path.join(store, runKeyOf(req), 'compute', 'ledger.json');
      const open = JSON.parse(readFileSync(ledgerFile, 'utf8')) as ComputeLedger;
      expect(open.machines).toHaveLength(1);
      expect(open.machines[0].releasedAt).toBeUndefined(); // the machine was not given back
      if (name === 'runpod') expect(runpod.live()).toHaveLength(1); // the pod is still rented

      const second = await WorkerProcess.start(server.address, env);
      workers.push(second);
      process.kill(-jobPid, 'SIGCONT');

      const result = await handle.result();
      expect(result.metrics.final_loss).toBe((await uninterrupted()).metrics.final_loss);
      expect(result.metrics.steps).toBe(40);
      expect(result.preemptions).toBe(0); // the trainer never restarted
      expect(wrapperPid(dir)).toBe(jobPid); // one launch: the second attempt re-attached
      expect(readFileSync(path.join(dir, 'events.jsonl'), 'utf8')).not.toContain('"resumed"');
      const ledger = JSON.parse(readFileSync(ledgerFile, 'utf8')) as ComputeLedger;
      expect(ledger.machines).toHaveLength(1);
      expect(ledger.machines[0].losses ?? []).toEqual([]);
      expect(ledger.machines[0].releasedAt).toBeDefined();
      if (name === 'runpod') {
        expect(runpod.pods.length - podsBefore).toBe(1); // one rental
        expect(runpod.live()).toHaveLength(0); // released at the end
      }

      const { events } = await handle.fetchHistory();
      const started = events!.filter((e) => e.activityTaskStartedEventAttributes).at(-1)!;
      expect(started.activityTaskStartedEventAttributes!.attempt).toBe(2);
      jobPid = undefined;
      await second.kill(); // the next case's activity must go to that case's own first worker
    },
    300_000,
  );
});
