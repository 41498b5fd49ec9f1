import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenizedRef, TrainRequest } from '../../src/activities/types';
import { parseExperiment, type Experiment } from '../../src/config/experiment-schema';
import { pythonExecutable } from '../../src/util/project-paths';
import { trainingRun } from '../../src/workflows';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { processTree, signalAll } from '../helpers/process-alive';
import { waitUntil } from '../helpers/scripted-experiment';
import { Sshd } from '../helpers/sshd';
import { TINY_MODEL, writeTinyDataset, midtrainRequest } from '../helpers/tiny-trainer-job';

/**
 * One trainer job over two hosts: two real sshd on loopback stand for two machines, each running one
 * torchrun node of a 2-rank gloo job, on a real Temporal server. Loopback shares one file system, as a
 * cluster's NFS would: both hosts' work folders are one folder, and the run folder is shared.
 */
let root: string;
let data: TokenizedRef;
const hosts: Sshd[] = [];
let env: TemporalTestEnv;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-multinode-test-'));
  data = await writeTinyDataset(path.join(root, 'data'));
  hosts.push(await Sshd.start(), await Sshd.start());
  env = await startTemporalWithWorkers({ stateDir: path.join(root, 'state') });
}, 120_000);

afterAll(async () => {
  await env?.close();
  for (const h of hosts) await h.stop();
  rmSync(root, { recursive: true, force: true });
});

function request(label: string, hyper: Partial<Experiment['midtrain']>): TrainRequest {
  const [a, b] = hosts;
  const x = parseExperiment({
    name: 'multinode-test',
    spec: 'specs/demo.md',
    aft: { data: 'unused.jsonl' },
    eval: { prompts: 'unused.jsonl' },
    baseModel: TINY_MODEL,
    compute: {
      backend: 'ssh',
      device: 'cpu',
      host: '127.0.0.1',
      port: a.port,
      hosts: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
      gpusPerHost: 1,
      user: a.user,
      identityFile: a.identityFile, // b is given a's key below
      workDir: path.join(root, 'remote'),
      python: pythonExecutable(),
      connectTimeoutSec: 2,
    },
    midtrain: { loraR: 4, loraAlpha: 8, lr: 1e-2, warmupRatio: 0.1, batchSize: 4, epochs: 1000, ...hyper },
  });
  return midtrainRequest(path.join(root, 'store'), label, data, x);
}

const run = (id: string, req: TrainRequest) =>
  env.client.workflow.start(trainingRun, { taskQueue: 'msm', workflowId: id, args: [req] });

/** The job folder of a run label on node `rank` (node 0 keeps the job id; node r adds ".node-r"). */
const jobDir = (label: string, rank: number) => {
  const jobs = path.join(root, 'remote', 'jobs');
  const names = existsSync(jobs) ? readdirSync(jobs).filter((x) => x.startsWith(`runs_${label}-`)) : [];
  const d = names.find((n) => (rank === 0 ? !n.includes('.node-') : n.endsWith(`.node-${rank}`)));
  return d && path.join(jobs, d);
};
const events = (label: string) => {
  const d = jobDir(label, 0);
  return d && existsSync(path.join(d, 'events.jsonl')) ? readFileSync(path.join(d, 'events.jsonl'), 'utf8') : '';
};
const wrapperPid = (dir: string) => Number(readFileSync(path.join(dir, 'pid'), 'utf8').split(' ')[0]);
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
};
/** The training rank under a node's torchrun (python -m msm_trainer, not torch.distributed.run). */
const rankOf = (tree: number[]) =>
  tree.filter((p) => cmdline(p).includes('msm_trainer') && !cmdline(p).includes('torch.distributed.run'));

describe('ssh backend over two hosts (two sshd on loopback, torchrun static rendezvous, gloo, real Temporal)', () => {
  beforeAll(() => {
    // One key for both "machines", as one would install it on every host of a cluster.
    const [a, b] = hosts;
    copyFileSync(`${a.identityFile}.pub`, path.join(b.dir, 'authorized_keys'));
  });

  let reference: number;

  it('runs one 2-rank job on both hosts: a node each, rank 0 on hosts[0], the cost meter counts both', async () => {
    const r = await run('multinode-done', request('done', { maxSteps: 24, checkpointEverySteps: 6 })).then((h) =>
      h.result(),
    );
    expect(r.metrics).toMatchObject({ steps: 24, resumes: 0, world_size: 2 });
    reference = r.metrics.final_loss as number;
    expect(Number.isFinite(reference)).toBe(true);
    // A torchrun on each host, each exited 0; only node 0's folder carries events. The run ends on node 0's
    // done event: node 1's torchrun may still be exiting then (a moment later on a loaded machine).
    for (const rank of [0, 1]) {
      const exitCode = path.join(jobDir('done', rank)!, 'exit_code');
      await waitUntil(() => existsSync(exitCode), 30_000, `node ${rank}'s torchrun to exit`);
      expect(readFileSync(exitCode, 'utf8').trim()).toBe('0');
    }
    expect(readFileSync(path.join(jobDir('done', 1)!, 'events.jsonl'), 'utf8')).toBe('');
    const stderr0 = readFileSync(path.join(jobDir('done', 0)!, 'stderr.log'), 'utf8');
    expect(stderr0).toMatch(/on 2 rank\(s\)/);
    expect(r.compute).toMatchObject({ machines: 1, preemptions: 0 });
    expect(r.compute!.gpuHours).toBeGreaterThan(0); // 2 "GPUs" (one per host) metered
  }, 240_000);

  it('a rank killed on the second host relaunches both nodes; the job resumes and ends as the uninterrupted run', async () => {
    const handle = await run('multinode-kill', request('kill', { maxSteps: 24, checkpointEverySteps: 6 }));
    await waitUntil(() => events('kill').includes('"checkpoint"'), 180_000, 'the first checkpoint', 5);
    // Freeze both nodes so the kill lands mid-training (a tiny job may otherwise finish first).
    const trees = [0, 1].map((rank) => processTree(wrapperPid(jobDir('kill', rank)!)));
    for (const t of trees) signalAll(t, 'SIGSTOP');
    expect(events('kill')).not.toContain('"done"');
    const [victim] = rankOf(trees[1]);
    expect(victim).toBeDefined();
    signalAll([victim], 'SIGKILL');
    for (const t of trees) signalAll(t, 'SIGCONT');

    const r = await handle.result();
    expect(r.metrics.steps).toBe(24);
    expect(r.resumedFromStep).toBeGreaterThanOrEqual(6);
    // Same data order, same per-rank RNG, same shards: the resumed job ends bit-equal to the uninterrupted one.
    expect(r.metrics.final_loss).toBe(reference);
    const stream = events('kill');
    expect(stream).toContain('"resumed"');
    // Both nodes were started again: node 1's torchrun of the relaunch exited 0 (at the run's end, or a moment later).
    const exitCode = path.join(jobDir('kill', 1)!, 'exit_code');
    await waitUntil(() => existsSync(exitCode), 30_000, "node 1's torchrun to exit");
    expect(readFileSync(exitCode, 'utf8').trim()).toBe('0');
  }, 300_000);

  it('refuses a host listed twice, and a first host other than host', async () => {
    expect(() =>
      parseExperiment({
        name: 'x',
        spec: 'specs/demo.md',
        aft: { data: 'a.jsonl' },
        eval: { prompts: 'e.jsonl' },
        compute: { backend: 'ssh', host: 'a', user: 'u', identityFile: '~/.ssh/id', hosts: ['a', 'a:22'] },
      }),
    ).toThrow(/hosts lists a host twice/);
    expect(() =>
      parseExperiment({
        name: 'x',
        spec: 'specs/demo.md',
        aft: { data: 'a.jsonl' },
        eval: { prompts: 'e.jsonl' },
        compute: { backend: 'ssh', host: 'a', port: 2222, user: 'u', identityFile: '~/.ssh/id', hosts: ['a:22', 'b'] },
      }),
    ).toThrow(/hosts\[0\] must be host \(and its port/);
  });
});
