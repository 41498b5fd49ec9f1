import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { TokenizedRef, TrainRequest, TrainResult } from '../../src/activities/types';
import type { ComputeBackend, JobStatus, MachineHandle } from '../../src/compute/backend';
import { createSshBackend, type SshBackendOptions } from '../../src/compute/ssh';
import { parseExperiment, type Experiment } from '../../src/config/experiment-schema';
import type { TrainerEvent, TrainerJobManifest } from '../../src/training/job';
import { pythonExecutable } from '../../src/util/project-paths';
import { environOf, jobFile, pidOf, sessionMembers, trainerOf, trainersOf } from '../helpers/job-processes';
import { Sshd } from '../helpers/sshd';
import { TINY_MODEL, tinyTrainManifest, writeTinyDataset, midtrainRequest } from '../helpers/tiny-trainer-job';

/**
 * The ssh backend against a real OpenSSH server on loopback, running the real trainer. Loopback lets the
 * test look behind the backend's back: job folders, pid files and processes are on this machine.
 */
const CONNECT_TIMEOUT_SEC = 2;
const COMMAND_TIMEOUT_MS = 5000;
const LONG = { maxSteps: 100_000, epochs: 100_000 }; // runs until cancelled

let root: string;
let data: TokenizedRef;
let dataUri: string;
const servers: Sshd[] = [];
const provisioned: { backend: ComputeBackend; machine: MachineHandle }[] = [];
const started: { backend: ComputeBackend; machine: MachineHandle; jobId: string }[] = [];

function sshBackend(sshd: Sshd): ComputeBackend {
  const opts: SshBackendOptions = {
    host: '127.0.0.1',
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    workDir: path.join(root, 'remote'),
    python: pythonExecutable(),
    knownHostsFile: path.join(root, 'known_hosts'),
    env: { MSM_TORCH_THREADS: '1' },
    cancelGraceMs: 3000,
    connectTimeoutSec: CONNECT_TIMEOUT_SEC,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
  };
  return createSshBackend(opts);
}

async function startSshd(): Promise<Sshd> {
  const s = await Sshd.start();
  servers.push(s);
  return s;
}

async function provision(backend: ComputeBackend, jobId: string): Promise<MachineHandle> {
  const machine = await backend.provision(jobId);
  provisioned.push({ backend, machine });
  return machine;
}

async function launch(backend: ComputeBackend, machine: MachineHandle, m: TrainerJobManifest): Promise<void> {
  started.push({ backend, machine, jobId: m.jobId });
  await backend.launch(machine, m);
}

/** Poll like the trainer activity does (cursor carried over) until `until` holds or the job stops running. */
async function pollUntil(
  backend: ComputeBackend,
  machine: MachineHandle,
  jobId: string,
  until: (events: TrainerEvent[]) => boolean = () => false,
  cursor = 0,
) {
  const events: TrainerEvent[] = [];
  const deadline = Date.now() + 45_000;
  for (;;) {
    const st: JobStatus = await backend.poll(machine, jobId, cursor);
    cursor = st.nextCursor;
    events.push(...st.events);
    if (st.state !== 'running' || until(events)) return { st, events, cursor };
    if (Date.now() > deadline)
      throw new Error(`job ${jobId} still running after 45 s: ${JSON.stringify(events.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-ssh-test-'));
  data = await writeTinyDataset(path.join(root, 'data'));
  dataUri = data.manifestUri;
});

afterAll(async () => {
  for (const j of started) await j.backend.cancel(j.machine, j.jobId).catch(() => undefined);
  for (const j of started) {
    // A job whose host is gone cannot be cancelled through it: kill its process group here.
    try {
      process.kill(-pidOf(j.machine, j.jobId), 'SIGKILL');
    } catch {
      // not running
    }
  }
  for (const p of provisioned) await p.backend.release(p.machine); // the last release closes the control master
  for (const s of servers) await s.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('ssh compute backend (real sshd on loopback, real trainer)', () => {
  let sshd: Sshd;
  let backend: ComputeBackend;
  let machine: MachineHandle;
  let activities: ReturnType<typeof createTrainerActivities>;

  beforeAll(async () => {
    sshd = await startSshd();
    backend = sshBackend(sshd);
    machine = await provision(backend, 'setup');
    activities = createTrainerActivities({ stateDir: path.join(root, 'state') });
  });

  it('provisions once: the host key is recorded, the trainer is pushed only when its content changes', async () => {
    expect(readFileSync(path.join(root, 'known_hosts'), 'utf8')).toContain(`[127.0.0.1]:${sshd.port}`);
    const trainerDir = String(machine.details.trainerDir);
    expect(trainerDir.startsWith(path.join(root, 'remote', 'trainer-'))).toBe(true);
    const pushedAt = statSync(path.join(trainerDir, '.complete')).mtimeMs;
    expect(existsSync(path.join(trainerDir, 'msm_trainer', 'cli.py'))).toBe(true);
    const again = await provision(backend, 'setup-2');
    expect(again.details).toEqual(machine.details);
    expect(statSync(path.join(trainerDir, '.complete')).mtimeMs).toBe(pushedAt);
  });

  /** runTraining as the worker runs it: the backend comes from the request's experiment.compute. */
  function trainRequest(label: string, hyper: Partial<Experiment['midtrain']>): TrainRequest {
    const x = parseExperiment({
      name: 'ssh-test',
      spec: 'specs/demo.md',
      aft: { data: 'unused.jsonl' },
      eval: { prompts: 'unused.jsonl' },
      baseModel: TINY_MODEL,
      compute: {
        backend: 'ssh',
        device: 'cpu',
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        identityFile: sshd.identityFile,
        workDir: path.join(root, 'remote'),
        python: pythonExecutable(),
        connectTimeoutSec: CONNECT_TIMEOUT_SEC,
      },
      midtrain: { loraR: 4, loraAlpha: 8, lr: 1e-2, warmupRatio: 0.1, batchSize: 4, ...hyper },
    });
    return midtrainRequest(path.join(root, 'store'), label, data, x);
  }

  /** The job folder the activity made for a run label. */
  const activityJob = (label: string) =>
    readdirSync(path.join(root, 'remote', 'jobs')).find((d) => d.startsWith(`runs_${label}-`))!;

  it('(1) runTraining with compute.backend "ssh" runs a real trainer job to done; events stream through the cursor', async () => {
    const env = new MockActivityEnvironment();
    const beats: Record<string, unknown>[] = [];
    env.on('heartbeat', (d: Record<string, unknown>) => beats.push(d));
    const out = (await env.run(
      activities.runTraining,
      trainRequest('done', { epochs: 100, maxSteps: 20, checkpointEverySteps: 10 }),
    )) as TrainResult;
    expect(out.metrics).toMatchObject({ steps: 20, resumes: 0 });
    expect(existsSync(fileURLToPath(`${out.outputUri}/COMPLETE`))).toBe(true);
    expect(beats.at(-1)).toMatchObject({
      step: 20,
      totalSteps: 20,
      checkpoint: expect.stringContaining('step-000010'),
    });
    expect(readFileSync(path.join(root, 'state', 'ssh', 'known_hosts'), 'utf8')).toContain(`[127.0.0.1]:${sshd.port}`);

    // The same stream read again through this test's own backend: each event once, in order.
    const jobId = activityJob('done');
    const { st, events, cursor } = await pollUntil(backend, machine, jobId);
    expect(st).toMatchObject({ state: 'exited', exitCode: 0 });
    expect(events.filter((e) => e.event === 'progress').map((e) => e.step)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(events.filter((e) => e.event === 'checkpoint').map((e) => e.step)).toEqual([10]); // the last step is the final output
    expect(events.at(-1)).toMatchObject({ event: 'done', outputUri: out.outputUri });
    expect(cursor).toBe(statSync(jobFile(machine, jobId, 'events.jsonl')).size);
    expect((await backend.poll(machine, jobId, cursor)).events).toEqual([]);
    expect((await backend.poll(machine, jobId, 0)).events).toEqual(events);
  });

  it('(2) a killed job reads as lost; relaunched, it resumes from its checkpoint and finishes', async () => {
    const m = tinyTrainManifest(root, dataUri, 'resume', { maxSteps: 200, epochs: 100, checkpointEverySteps: 40 });
    await launch(backend, machine, m);
    const first = await pollUntil(backend, machine, m.jobId, (ev) => ev.some((e) => e.event === 'checkpoint'));
    expect(first.st.state).toBe('running');
    process.kill(-pidOf(machine, m.jobId), 'SIGKILL'); // the job's whole process group, as a preemption would
    const lost = await pollUntil(backend, machine, m.jobId, () => false, first.cursor);
    expect(lost.st.state).toBe('lost');
    expect(lost.events.some((e) => e.event === 'done')).toBe(false);

    await launch(backend, machine, m);
    const second = await pollUntil(backend, machine, m.jobId, () => false, lost.cursor);
    expect(second.st).toMatchObject({ state: 'exited', exitCode: 0 });
    const resumed = second.events.find((e) => e.event === 'resumed');
    expect(resumed).toBeDefined();
    expect(resumed!.event === 'resumed' && resumed!.step).toBeGreaterThanOrEqual(40);
    expect(second.events.at(-1)).toMatchObject({ event: 'done', metrics: { steps: 200, resumes: 1 } });
  });

  it('(4) launching twice, even at once, runs one trainer: the second launch re-attaches', async () => {
    const m = tinyTrainManifest(root, dataUri, 'twice', LONG);
    await Promise.all([launch(backend, machine, m), launch(backend, machine, m)]);
    const pid = pidOf(machine, m.jobId);
    await launch(backend, machine, m);
    expect(pidOf(machine, m.jobId)).toBe(pid);
    const trainer = await trainerOf(machine, m.jobId);
    await new Promise((r) => setTimeout(r, 500)); // room for a second trainer to show up, if one was started
    expect(trainersOf(machine, m.jobId)).toEqual([trainer]);
    expect(sessionMembers(pid)).toContain(trainer);
    // The pushed copy of the trainer runs, with the backend's environment.
    expect(environOf(trainer)).toMatchObject({
      MSM_TORCH_THREADS: '1',
      PYTHONPATH: String(machine.details.trainerDir),
    });
    await backend.cancel(machine, m.jobId);
  });

  it('(5) cancel stops the remote job and its whole process group', async () => {
    const m = tinyTrainManifest(root, dataUri, 'cancel', LONG);
    await launch(backend, machine, m);
    const trainer = await trainerOf(machine, m.jobId);
    const pid = pidOf(machine, m.jobId);
    expect(sessionMembers(pid)).toEqual(expect.arrayContaining([pid, trainer])); // the wrapper and the trainer
    expect((await backend.poll(machine, m.jobId, 0)).state).toBe('running');
    const t0 = Date.now();
    await backend.cancel(machine, m.jobId);
    expect(Date.now() - t0).toBeLessThan(3000 + COMMAND_TIMEOUT_MS);
    expect(sessionMembers(pid)).toEqual([]);
    expect((await backend.poll(machine, m.jobId, 0)).state).toBe('lost'); // killed: no exit code
    await backend.cancel(machine, m.jobId); // nothing left to stop: still fine
  });

  it('(5) cancelling the activity cancels its remote job', async () => {
    const env = new MockActivityEnvironment();
    const run = env.run(activities.runTraining, trainRequest('cancelled', LONG));
    run.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (!existsSync(path.join(root, 'remote', 'jobs')) || !activityJob('cancelled')) {
      if (Date.now() > deadline) throw new Error('the activity launched no job');
      await new Promise((r) => setTimeout(r, 100));
    }
    const jobId = activityJob('cancelled');
    started.push({ backend, machine, jobId });
    const trainer = await trainerOf(machine, jobId);
    const pid = pidOf(machine, jobId);
    expect(sessionMembers(pid)).toContain(trainer);
    env.cancel();
    await expect(run).rejects.toThrow(/cancel/i);
    expect(sessionMembers(pid)).toEqual([]);
  });
});

describe('ssh compute backend: a host that goes away', () => {
  it('(3) a silent or dead host reads as unreachable (not lost) within the timeouts, and the job is re-attached when it is back', async () => {
    const sshd = await startSshd();
    const backend = sshBackend(sshd);
    const machine = await provision(backend, 'unreachable');
    const m = tinyTrainManifest(root, dataUri, 'unreachable', LONG);
    await launch(backend, machine, m);
    expect((await backend.poll(machine, m.jobId, 0)).state).toBe('running');
    const pid = pidOf(machine, m.jobId);

    // Silent: the server and its sessions stop answering; the control master is stuck mid-session.
    const frozen = sshd.freeze();
    let t0 = Date.now();
    const silent = await backend.poll(machine, m.jobId, 0);
    expect(Date.now() - t0).toBeLessThan(COMMAND_TIMEOUT_MS + 2000);
    expect(silent).toMatchObject({ state: 'unreachable', events: [], nextCursor: 0 });
    expect(silent.lostReason).toMatch(/no answer within/);
    sshd.thaw(frozen);

    // Dead: nothing listens on the port any more.
    await sshd.kill();
    t0 = Date.now();
    const dead = await backend.poll(machine, m.jobId, 0);
    expect(Date.now() - t0).toBeLessThan(CONNECT_TIMEOUT_SEC * 1000 + 2000);
    expect(dead.state).toBe('unreachable');
    expect(dead.lostReason).toMatch(/Connection refused/);
    await expect(backend.launch(machine, m)).rejects.toThrow(/Connection refused/);

    // The host comes back with the job still running on it: launch re-attaches instead of starting another.
    await sshd.restart();
    await backend.launch(machine, m);
    expect(pidOf(machine, m.jobId)).toBe(pid);
    expect((await backend.poll(machine, m.jobId, 0)).state).toBe('running');
    await backend.cancel(machine, m.jobId);
    expect(sessionMembers(pid)).toEqual([]);
  });
});
