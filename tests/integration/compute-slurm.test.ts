import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenizedRef, TrainRequest, TrainResult } from '../../src/activities/types';
import { ComputeConfigError } from '../../src/compute/backend';
import { batchScript, createSlurmBackend, sbatchOptions } from '../../src/compute/slurm';
import { slurmJobStatus } from '../../src/compute/slurm-state';
import { gpuMemoryGiB, worldOf } from '../../src/config/compute-shape';
import { parseExperiment } from '../../src/config/experiment-schema';
import { pythonExecutable } from '../../src/util/project-paths';
import { trainingRun } from '../../src/workflows';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { processTree, signalAll } from '../helpers/process-alive';
import { waitUntil } from '../helpers/scripted-experiment';
import { SlurmCluster, slurmUnavailable } from '../helpers/slurm';
import { Sshd } from '../helpers/sshd';
import { TINY_MODEL, tinyTrainManifest, writeTinyDataset, midtrainRequest } from '../helpers/tiny-trainer-job';

/**
 * The slurm backend on a real one-node Slurm (munged, slurmctld, slurmd started by the test, torn down
 * after), from a real Temporal server, running the real trainer as a 2-rank gloo job (nodes 1 × 2 ranks:
 * one machine cannot hold a multi-node Slurm; the multi-node batch script is checked by running it with
 * stand-ins for srun and scontrol). The cases share one cluster and one uninterrupted reference run, and
 * run at once where Slurm lets them (each job takes 1 of the node's 2 CPUs).
 */
const HYPER = { maxSteps: 12, checkpointEverySteps: 4 };
let root: string;
let data: TokenizedRef;
let cluster: SlurmCluster | undefined;
let env: TemporalTestEnv | undefined;
let unavailable: string | undefined;

beforeAll(async () => {
  unavailable = slurmUnavailable();
  if (unavailable) {
    console.warn(`compute-slurm: skipping the Slurm cluster cases: ${unavailable}`);
    return;
  }
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-slurm-test-'));
  chmodSync(root, 0o755);
  data = await writeTinyDataset(path.join(root, 'data'));
  cluster = await SlurmCluster.start();
  env = await startTemporalWithWorkers({ stateDir: path.join(root, 'state') });
}, 700_000);

const RUNS = ['slurm-done', 'slurm-interrupted', 'slurm-timeout'];

afterAll(async () => {
  // A case that failed may leave its run going: end it before its worker goes.
  for (const id of RUNS)
    await env?.client.workflow
      .getHandle(id)
      .terminate()
      .catch(() => undefined);
  await env?.close();
  await cluster?.stop();
  if (root && !process.env.MSM_KEEP_TEST_DIR) rmSync(root, { recursive: true, force: true });
});

function slurmCompute(extra: Record<string, unknown> = {}) {
  return {
    backend: 'slurm',
    device: 'cpu',
    partition: cluster?.partition ?? 'msmtest',
    account: 'msmlab',
    gpusPerNode: 2, // two gloo ranks on the one node
    cpusPerNode: 1,
    workDir: path.join(root ?? '/tmp', 'cluster'),
    python: pythonExecutable(),
    ...extra,
  };
}

function request(label: string, compute: Record<string, unknown> = {}): TrainRequest {
  const x = parseExperiment({
    name: 'slurm-test',
    spec: 'specs/demo.md',
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
    baseModel: TINY_MODEL,
    compute: slurmCompute(compute),
    midtrain: { loraR: 4, loraAlpha: 8, lr: 1e-2, warmupRatio: 0.1, batchSize: 4, epochs: 1000, ...HYPER },
  });
  return midtrainRequest(path.join(root, 'store'), label, data, x);
}

const run = (id: string, req: TrainRequest) =>
  env!.client.workflow.start(trainingRun, { taskQueue: 'msm', workflowId: id, args: [req] });

const jobDir = (label: string) => {
  const jobs = path.join(root, 'cluster', 'jobs');
  const name = existsSync(jobs) ? readdirSync(jobs).find((n) => n.startsWith(`runs_${label}-`)) : undefined;
  return name && path.join(jobs, name);
};
const events = (label: string) => {
  const d = jobDir(label);
  const f = d && path.join(d, 'events.jsonl');
  return f && existsSync(f)
    ? readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { event: string })
    : [];
};
/** Whether the job's run after its `resumes`-th resume (0: the first run) has written a checkpoint. */
const checkpointed = (label: string, resumes: number) => {
  const ev = events(label).map((e) => e.event);
  const resumed = ev.filter((e) => e === 'resumed').length;
  return resumed === resumes && ev.slice(ev.lastIndexOf('resumed') + 1).includes('checkpoint');
};
const slurmId = (label: string) => readFileSync(path.join(jobDir(label)!, 'slurm_id'), 'utf8').trim();

/** Stop the job's processes where they are (the node's wrapper, torchrun, ranks), so Slurm acts mid-run. */
async function freezeAfterCheckpoint(label: string, resumes: number): Promise<void> {
  await waitUntil(() => checkpointed(label, resumes), 240_000, `a checkpoint of ${label} (run ${resumes})`, 10);
  const pid = Number(readFileSync(path.join(jobDir(label)!, 'pid'), 'utf8').split(' ')[0]);
  signalAll(processTree(pid), 'SIGSTOP');
  expect(events(label).some((e) => e.event === 'done')).toBe(false);
}

/** The reasons of the job's recorded losses (its ledger in the store). */
function lossReasons(r: TrainResult): string[] {
  const file = path.join(root, 'store', r.runKey, 'compute', 'ledger.json');
  const ledger = JSON.parse(readFileSync(file, 'utf8')) as { machines: Array<{ losses?: Array<{ reason: string }> }> };
  return ledger.machines.flatMap((m) => (m.losses ?? []).map((l) => l.reason));
}

describe('slurm backend: what needs no cluster', () => {
  it('renders sbatch options from the compute block; device cpu asks for no GPUs', () => {
    const o = { partition: 'gpu', account: 'lab', qos: 'high', timeLimit: '24:00:00', nodes: 2, workDir: 'msm' };
    expect(sbatchOptions({ ...o, gpusPerNode: 4, cpusPerNode: 32, memory: '200G' })).toEqual([
      '--partition=gpu',
      '--account=lab',
      '--qos=high',
      '--time=24:00:00',
      '--nodes=2',
      '--ntasks-per-node=1',
      '--gpus-per-node=4',
      '--cpus-per-task=32',
      '--mem=200G',
    ]);
    expect(sbatchOptions({ ...o, gres: 'gpu:a100:4' })).toContain('--gres=gpu:a100:4');
    // A job of one process (sampling) asks for one node and one GPU, whatever the block's training world.
    expect(sbatchOptions({ ...o, gpusPerNode: 4 }, { nodes: 1, procsPerNode: 1 })).toEqual(
      expect.arrayContaining(['--nodes=1', '--gpus-per-node=1']),
    );
    expect(sbatchOptions({ ...o, requestGpus: false }).join(' ')).not.toMatch(/--gpus|--gres/);
  });

  it('the multi-node batch script: srun starts one node per host, all meeting at a free port of the first host', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-slurm-render-'));
    try {
      const script = batchScript(3, '/shared/trainer-x', pythonExecutable());
      writeFileSync(path.join(dir, 'batch.sh'), script);
      // Stand-ins for the allocation's srun and scontrol: record what the batch step would start.
      const bin = path.join(dir, 'bin');
      mkdirSync(bin);
      writeFileSync(path.join(bin, 'scontrol'), '#!/bin/sh\nprintf "gpu-a\\ngpu-b\\ngpu-c\\n"\n', { mode: 0o755 });
      writeFileSync(
        path.join(bin, 'srun'),
        '#!/bin/sh\necho "srun $*"\necho "master $MSM_MASTER_ADDR:$MSM_MASTER_PORT"\n',
        { mode: 0o755 },
      );
      const out = execFileSync('sh', [path.join(dir, 'batch.sh'), 'batch', dir], {
        encoding: 'utf8',
        env: {
          ...process.env,
          PATH: `${bin}:${process.env.PATH}`,
          SLURM_JOB_NODELIST: 'gpu-[a-c]',
          SLURM_CPUS_PER_TASK: '8',
        },
      });
      const [srun, master] = out.trim().split('\n');
      expect(srun).toBe(
        `srun --nodes=3 --ntasks-per-node=1 --kill-on-bad-exit=1 --cpus-per-task=8 sh ${dir}/batch.sh node ${dir} /shared/trainer-x ${pythonExecutable()}`,
      );
      expect(master).toMatch(/^master gpu-a:\d+$/);
      // One node: no rendezvous to set up (torchrun --standalone on the host).
      expect(batchScript(1, '/t', 'python3').split('batch() {')[1]).not.toContain('MSM_MASTER_ADDR');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads Slurm states: interruptions and requeues are losses, a clean exit stands, a failed batch is a failure', () => {
    const folder = { state: 'lost' as const, events: [], nextCursor: 0 };
    const exited = (code: number) => ({ ...folder, state: 'exited' as const, exitCode: code });
    expect(slurmJobStatus('slurm 7 RUNNING 0', folder).state).toBe('running');
    expect(slurmJobStatus('slurm 7 PENDING 0', folder).state).toBe('running');
    expect(slurmJobStatus('slurm 7 TIMEOUT 0', folder)).toMatchObject({ state: 'lost', lostReason: /time limit/ });
    expect(slurmJobStatus('slurm 7 CANCELLED 0', exited(143))).toMatchObject({ state: 'lost' });
    expect(slurmJobStatus('slurm 7 PREEMPTED 0', folder).state).toBe('lost');
    expect(slurmJobStatus('slurm 7 NODE_FAIL 0', folder).state).toBe('lost');
    expect(slurmJobStatus('slurm 7 PENDING 1', folder)).toMatchObject({ state: 'lost', lostReason: /requeued/ });
    expect(slurmJobStatus('slurm 7 CANCELLED 0', exited(0))).toMatchObject({ state: 'exited', exitCode: 0 });
    expect(slurmJobStatus('slurm 7 COMPLETED 0', exited(2))).toMatchObject({ state: 'exited', exitCode: 2 });
    expect(slurmJobStatus('slurm 7 FAILED 0', folder)).toMatchObject({ state: 'exited', exitCode: 1 });
    expect(slurmJobStatus('slurm 7 GONE 0', folder).state).toBe('lost');
    expect(slurmJobStatus('slurm - NONE 0', folder).state).toBe('lost');
  });

  it('validate names a missing partition and account; plan reads the world and the GPU memory from the file', () => {
    const base = { name: 'x', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };
    expect(() => parseExperiment({ ...base, compute: { backend: 'slurm' } })).toThrow(
      /compute\.partition: required: the partition[\s\S]*compute\.account: required: the account/,
    );
    const x = parseExperiment({
      ...base,
      compute: { backend: 'slurm', partition: 'gpu', account: 'lab', nodes: 2, gpusPerNode: 4, gpuMemoryGiB: 79.2 },
      midtrain: { batchSize: 16 },
    });
    expect(worldOf(x.compute as Parameters<typeof worldOf>[0])).toEqual({ nodes: 2, procsPerNode: 4 });
    expect(gpuMemoryGiB(x.compute as Parameters<typeof gpuMemoryGiB>[0])).toBe(79.2);
    expect(() =>
      parseExperiment({
        ...base,
        compute: { backend: 'slurm', partition: 'gpu', account: 'lab', loginHost: 'login1' },
      }),
    ).toThrow(/loginHost needs compute\.user and compute\.identityFile/);
  });
});

describe('slurm backend on a real one-node Slurm (munge, slurmctld, slurmd; real Temporal; 2-rank gloo trainer)', () => {
  let reference: TrainResult;
  let timeout: Promise<TrainResult>;
  let interrupted: Promise<TrainResult>;
  /** Watchers started with the runs: a tiny job finishes within a second of its first checkpoint. */
  let frozen: { timeout: Promise<void>; interrupted: Promise<void> };

  it('runs the job as one Slurm job named after the job id: world size 2, GPU-hours metered, no dollars', async (ctx) => {
    ctx.skip(!!unavailable, unavailable);
    // The time-limit case runs beside the others: it waits out Slurm's one-minute minimum and its 30 s check.
    timeout = run('slurm-timeout', request('timeout', { timeLimit: '10' })).then((h) => h.result());
    interrupted = run('slurm-interrupted', request('interrupted')).then((h) => h.result());
    frozen = { timeout: freezeAfterCheckpoint('timeout', 0), interrupted: freezeAfterCheckpoint('interrupted', 0) };
    for (const p of [timeout, interrupted, ...Object.values(frozen)]) p.catch(() => undefined); // awaited below
    reference = await run('slurm-done', request('done')).then((h) => h.result());
    expect(reference.metrics).toMatchObject({ steps: 12, resumes: 0, world_size: 2 });
    expect(Number.isFinite(reference.metrics.final_loss)).toBe(true);
    expect(readFileSync(path.join(jobDir('done')!, 'exit_code'), 'utf8').trim()).toBe('0');
    expect(readFileSync(path.join(jobDir('done')!, 'stderr.log'), 'utf8')).toMatch(/on 2 rank\(s\)/);
    const job = cluster!.run('squeue', ['--noheader', '--states=all', '-j', slurmId('done'), '-o', '%j %T']);
    expect(job.trim()).toBe(`${path.basename(jobDir('done')!)} COMPLETED`);
    expect(reference.compute).toMatchObject({ machines: 1, preemptions: 0, costUsd: null });
    expect(reference.compute!.gpuHours).toBeGreaterThan(0);
  }, 300_000);

  it('an scancel after a checkpoint, then an scontrol requeue, are preemptions: it resumes each time and ends as the uninterrupted run', async (ctx) => {
    ctx.skip(!!unavailable, unavailable);
    await frozen.interrupted;
    const first = slurmId('interrupted');
    cluster!.run('scancel', [first]);
    await waitUntil(() => slurmId('interrupted') !== first, 120_000, 'a new Slurm job after scancel');
    await freezeAfterCheckpoint('interrupted', 1);
    const second = slurmId('interrupted');
    cluster!.run('scontrol', ['requeue', second]);
    const r = await interrupted;
    expect(slurmId('interrupted')).not.toBe(second); // a new job at once, not Slurm's requeue (held 2 minutes)
    expect(r.metrics.steps).toBe(12);
    expect(r.resumedFromStep).toBeGreaterThanOrEqual(8); // the second resume: from the checkpoint after the first
    expect(r.metrics.final_loss).toBe(reference.metrics.final_loss);
    expect(r.compute).toMatchObject({ preemptions: 2 });
    const reasons = lossReasons(r);
    expect(reasons[0]).toMatch(/cancelled \(scancel\)/);
    expect(reasons[1]).toMatch(/requeued/);
  }, 300_000);

  it('a job killed at its time limit resumes in a new allocation, counted as a preemption', async (ctx) => {
    ctx.skip(!!unavailable, unavailable);
    await frozen.timeout;
    // The experiment's limit went to sbatch; the first job's is then cut to Slurm's shortest, one minute (the
    // resumed job keeps the experiment's 10, so it surely finishes).
    const first = slurmId('timeout');
    expect(cluster!.run('squeue', ['--noheader', '-j', first, '-o', '%l']).trim()).toBe('10:00');
    cluster!.run('scontrol', ['update', `JobId=${first}`, 'TimeLimit=1']);
    const r = await timeout;
    expect(slurmId('timeout')).not.toBe(first);
    expect(r.metrics.steps).toBe(12);
    expect(r.metrics.final_loss).toBe(reference.metrics.final_loss);
    expect(r.compute).toMatchObject({ preemptions: 1 });
    expect(lossReasons(r)).toEqual([expect.stringMatching(/time limit \(TIMEOUT\)/)]);
  }, 300_000);

  it('reaches the cluster over ssh to a login node: trainer copied there, the job submitted once (a second launch re-attaches), seen and cancelled there', async (ctx) => {
    ctx.skip(!!unavailable, unavailable);
    const sshd = await Sshd.start({ SLURM_CONF: cluster!.conf });
    const login = { host: '127.0.0.1', port: sshd.port, user: sshd.user, identityFile: sshd.identityFile };
    const backend = createSlurmBackend({
      ...{ partition: cluster!.partition, account: 'msmlab', gpusPerNode: 2, requestGpus: false, cpusPerNode: 1 },
      workDir: path.join(root, 'login'),
      python: pythonExecutable(),
      login: {
        ...login,
        knownHostsFile: path.join(root, 'known_hosts'),
        connectTimeoutSec: 5,
        commandTimeoutMs: 30_000,
      },
      cancelGraceMs: 20_000,
    });
    try {
      const machine = await backend.provision('over-ssh');
      expect(existsSync(path.join(String(machine.details.trainerDir), '.complete'))).toBe(true);
      const m = { ...tinyTrainManifest(root, data.manifestUri, 'over-ssh', { maxSteps: 100_000, epochs: 100_000 }) };
      expect(await backend.launch(machine, m)).toEqual({ attached: false });
      expect(await backend.launch(machine, m)).toEqual({ attached: true });
      const jobs = cluster!.run('squeue', ['--noheader', '--name', m.jobId, '-o', '%i %j']).trim().split('\n');
      expect(jobs).toHaveLength(1);
      expect((await backend.poll(machine, m.jobId, 0)).state).toBe('running');
      await backend.cancel(machine, m.jobId);
      expect(await backend.poll(machine, m.jobId, 0)).toMatchObject({ state: 'lost', lostReason: /cancelled/ });
      await backend.release(machine);
      expect(await backend.releaseJob!(m.jobId)).toBe(0); // nothing left to release
    } finally {
      await sshd.stop();
    }
  }, 120_000);

  it('refuses, before anything is submitted, a job Slurm would not take (an unknown partition is bad input)', async (ctx) => {
    ctx.skip(!!unavailable, unavailable);
    const backend = createSlurmBackend({ partition: 'nosuch', account: 'msmlab', requestGpus: false, workDir: root });
    const refused = backend.provision('bad-partition');
    await expect(refused).rejects.toThrow(ComputeConfigError);
    await expect(refused).rejects.toThrow(/Slurm refuses the job as compute configures it .*partition/i);
  });
});
