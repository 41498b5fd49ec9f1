import { MockActivityEnvironment } from '@temporalio/testing';
import type { ApplicationFailure } from '@temporalio/common';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { TokenizedRef, TrainRequest, TrainResult } from '../../src/activities/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { ComputeLedger } from '../../src/cost/compute-usage';
import { runKeyOf } from '../../src/training/run-request';
import { pythonExecutable } from '../../src/util/project-paths';
import { sessionMembers } from '../helpers/job-processes';
import { waitUntil } from '../helpers/scripted-experiment';
import { Sshd } from '../helpers/sshd';
import { TINY_MODEL, writeTinyDataset, midtrainRequest } from '../helpers/tiny-trainer-job';

/**
 * A job's life against real parts: a real sshd on loopback that goes away mid-job and comes back within
 * compute.lostGraceSec (no release, no relaunch), and the real trainer failing the same way each attempt
 * (ends after compute.maxRestarts with its own error).
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-lifecycle-'));
let data: TokenizedRef;
let sshd: Sshd | undefined;
const jobPids: number[] = [];
const OUTAGE_MS = 30_000;

beforeAll(async () => {
  process.env.MSM_TORCH_THREADS = '1'; // the local backend's trainer inherits it
  data = await writeTinyDataset(path.join(root, 'data'));
});

afterAll(async () => {
  for (const pid of jobPids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // exited
    }
  }
  await sshd?.stop();
  rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

function request(label: string, compute: Record<string, unknown>, midtrain: Record<string, unknown>): TrainRequest {
  const x = parseExperiment({
    name: 'lifecycle-test',
    spec: 'specs/demo.md',
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
    baseModel: TINY_MODEL,
    compute: { device: 'cpu', ...compute },
    midtrain: { loraR: 4, loraAlpha: 8, lr: 1e-2, warmupRatio: 0.1, batchSize: 4, ...midtrain },
  });
  return midtrainRequest(path.join(root, 'store'), label, data, x);
}

const ledgerOf = (req: TrainRequest) =>
  JSON.parse(readFileSync(path.join(root, 'store', runKeyOf(req), 'compute', 'ledger.json'), 'utf8')) as ComputeLedger;

/** The job folder (and its wrapper's pid) the activity made under a backend's work folder. */
function jobOf(workDir: string, label: string): { dir: string; pid: number } | undefined {
  const jobs = path.join(workDir, 'jobs');
  const name = existsSync(jobs) ? readdirSync(jobs).find((d) => d.startsWith(`runs_${label}-`)) : undefined;
  if (!name || !existsSync(path.join(jobs, name, 'pid'))) return undefined;
  const dir = path.join(jobs, name);
  return { dir, pid: Number(readFileSync(path.join(dir, 'pid'), 'utf8').split(' ')[0]) };
}

describe('a job whose machine stops answering', () => {
  it('ssh down for 30 s within lostGraceSec 120: no release, no relaunch, the job completes', async () => {
    sshd = await Sshd.start();
    const workDir = path.join(root, 'remote');
    const req = request(
      'outage',
      {
        backend: 'ssh',
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        identityFile: sshd.identityFile,
        workDir,
        python: pythonExecutable(),
        connectTimeoutSec: 2,
        // Four times the outage: on a loaded machine a poll in flight when the host went can hang for its
        // whole command timeout (22 s) before the next one sees the host back.
        lostGraceSec: 120,
      },
      { maxSteps: 40, epochs: 1000, checkpointEverySteps: 20 },
    );
    const activities = createTrainerActivities({ stateDir: path.join(root, 'state') });
    const env = new MockActivityEnvironment();
    const silences: number[] = [];
    env.on('heartbeat', (d: { unreachableSec?: number }) => void (d.unreachableSec && silences.push(d.unreachableSec)));
    const run = env.run(activities.runTraining, req);
    run.catch(() => undefined);
    let job: ReturnType<typeof jobOf>;
    await waitUntil(
      () =>
        !!(job = jobOf(workDir, 'outage')) &&
        existsSync(path.join(job.dir, 'events.jsonl')) &&
        readFileSync(path.join(job.dir, 'events.jsonl'), 'utf8').includes('"progress"'),
      180_000,
      'the job to make progress',
    );
    jobPids.push(job!.pid);
    // The host is gone for 30 s. Its job is paused meanwhile (SIGSTOP), so that a fast machine cannot finish
    // it during the outage: the outage is then mid-job whatever the speed, and costs no CPU.
    await sshd.kill();
    process.kill(-job!.pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    expect(sessionMembers(job!.pid).length).toBeGreaterThanOrEqual(2); // the wrapper and its trainer, not zombies
    await sshd.restart();
    process.kill(-job!.pid, 'SIGCONT');

    const result = (await run) as TrainResult;
    expect(result.metrics.steps).toBe(40);
    expect(Math.max(...silences)).toBeGreaterThanOrEqual(OUTAGE_MS / 1000 - 5); // it did wait through the outage
    expect(result.preemptions).toBe(0); // the trainer never restarted
    expect(jobOf(workDir, 'outage')!.pid).toBe(job!.pid); // launched once
    const events = readFileSync(path.join(job!.dir, 'events.jsonl'), 'utf8');
    expect(events).not.toContain('"resumed"');
    const ledger = ledgerOf(req);
    expect(ledger.machines).toHaveLength(1);
    expect(ledger.machines[0].losses ?? []).toEqual([]);
  }, 420_000);
});

describe('a job that fails the same way every time (real trainer, local backend)', () => {
  it('is restarted maxRestarts times, then the run fails with its own error', async () => {
    const req = request('broken', { backend: 'local', maxRestarts: 1 }, { maxSteps: 4, checkpointEverySteps: 2 });
    // The run's checkpoint folder is a file: the trainer cannot take its lock there, the same way each time.
    const checkpoints = path.join(root, 'store', runKeyOf(req), 'checkpoints');
    mkdirSync(path.dirname(checkpoints), { recursive: true });
    writeFileSync(checkpoints, 'not a folder\n');
    const activities = createTrainerActivities({ stateDir: path.join(root, 'state') });
    const attempt = () =>
      new MockActivityEnvironment().run(activities.runTraining, req).then(
        () => undefined,
        (e: unknown) => e as ApplicationFailure,
      );
    const first = await attempt();
    expect(first?.nonRetryable).toBe(false);
    expect(first?.message).toMatch(/exited with code 1 \(failure 1 without a new checkpoint, of at most 2\)/);
    const second = await attempt();
    expect(second?.type).toBe('TrainerJobFailed');
    expect(second?.nonRetryable).toBe(true);
    expect(second?.message).toMatch(/failed 2 times in a row with no new checkpoint \(compute.maxRestarts 1\)/);
    expect(second?.message).toContain(checkpoints); // the trainer's own error names the folder it could not use
    const record = JSON.parse(
      readFileSync(path.join(root, 'store', runKeyOf(req), 'compute', 'restarts.json'), 'utf8'),
    ) as { failures: number; checkpointStep: number };
    expect(record).toMatchObject({ failures: 2, checkpointStep: -1 });
  }, 90_000);
});
