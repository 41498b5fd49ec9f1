import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComputeConfigError, type ComputeBackend, type MachineHandle } from '../../src/compute/backend';
import { backendPicker } from '../../src/compute/from-config';
import type { Experiment } from '../../src/config/experiment-schema';
import { pythonExecutable } from '../../src/util/project-paths';
import { environOf, jobFile, trainerOf } from '../helpers/job-processes';
import { Sshd } from '../helpers/sshd';
import { tinyTrainManifest, writeTinyDataset } from '../helpers/tiny-trainer-job';

/**
 * What an ssh host gets of the worker's environment, through the backend an experiment's `compute` picks:
 * by default where the S3 store is (endpoint, region), never the worker's own credentials; those only when
 * the experiment asks (compute.forwardStoreCredentials) and the worker's MSM_REMOTE_STORE_CREDENTIALS names
 * the host. They travel in an owner-only env file written over stdin, never on a command line (which `ps`
 * shows to every user of both machines). Real sshd on loopback, real trainer.
 */
const SECRET = `msm-secret-${Math.random().toString(36).slice(2)}`;
const PLACE = { AWS_REGION: 'us-test-1', MSM_S3_ENDPOINT: 'http://127.0.0.1:9' };
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'msm-test-key-id', AWS_SECRET_ACCESS_KEY: SECRET };
const SET = { ...PLACE, ...CREDENTIALS, MSM_TEST_NOT_FORWARDED: 'stays-here' };

let root: string;
let sshd: Sshd;
const launched: Array<{ backend: ComputeBackend; machine: MachineHandle; jobId: string }> = [];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-ssh-env-'));
  sshd = await Sshd.start();
  Object.assign(process.env, SET);
}, 60_000);

afterAll(async () => {
  for (const k of [...Object.keys(SET), 'MSM_REMOTE_STORE_CREDENTIALS']) delete process.env[k];
  for (const j of launched) await stop(j);
  await sshd?.stop();
  rmSync(root, { recursive: true, force: true });
});

const stop = async (j: (typeof launched)[number]) => {
  await j.backend.cancel(j.machine, j.jobId).catch(() => undefined);
  await j.backend.release(j.machine);
};

/** A worker's backends, as it picks them at start (its environment is read then). */
const pick = (c: Experiment['compute']) => backendPicker({ stateDir: root, localPython: pythonExecutable() })(c);

const sshCompute = (forwardStoreCredentials?: boolean): Experiment['compute'] => ({
  backend: 'ssh',
  device: 'cpu',
  host: '127.0.0.1',
  port: sshd.port,
  user: sshd.user,
  identityFile: sshd.identityFile,
  workDir: path.join(root, 'remote'),
  python: pythonExecutable(),
  connectTimeoutSec: 2,
  ...(forwardStoreCredentials !== undefined && { forwardStoreCredentials }),
});

/** Launch a long job through the picked backend; the environment its trainer process started with. */
async function launchAndRead(compute: Experiment['compute'], jobId: string) {
  const backend = pick(compute);
  const data = await writeTinyDataset(path.join(root, `data-${jobId}`));
  const machine = await backend.provision(jobId);
  const job = { backend, machine, jobId };
  launched.push(job);
  const manifest = {
    ...tinyTrainManifest(root, data.manifestUri, jobId, { maxSteps: 100_000, epochs: 100_000 }),
    jobId,
  };
  await backend.launch(machine, manifest);
  // sshd starts the job with its own session environment: these can only have come from the env file.
  const seen = environOf(await trainerOf(machine, jobId));
  const envFile = jobFile(machine, jobId, 'env');
  return { seen, envFile, stop: () => stop(launched.splice(launched.indexOf(job), 1)[0]) };
}

/** Command lines of every process on this machine (loopback: the "remote" host's too). */
function commandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      // exited
    }
  }
  return out;
}

describe('what an ssh host gets of the worker environment', () => {
  it('by default: the store endpoint and region, not the credentials; env file mode 600', async () => {
    const job = await launchAndRead(sshCompute(), 'env-default');
    expect(job.seen).toMatchObject(PLACE);
    expect(job.seen.AWS_ACCESS_KEY_ID).toBeUndefined();
    expect(job.seen.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(job.seen.MSM_TEST_NOT_FORWARDED).toBeUndefined();
    expect(statSync(job.envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(job.envFile, 'utf8')).not.toContain(SECRET);
    await job.stop();
  }, 60_000);

  it('asked for but not allowed by the worker: refused before any connection, naming the fix', async () => {
    const refused = pick(sshCompute(true)).provision('env-refused');
    await expect(refused).rejects.toThrow(ComputeConfigError);
    await expect(refused).rejects.toThrow(/MSM_REMOTE_STORE_CREDENTIALS=127\.0\.0\.1/);
  });

  it('asked for and allowed for this host: the credentials arrive, and no command line holds the secret', async () => {
    process.env.MSM_REMOTE_STORE_CREDENTIALS = '127.0.0.1';
    const job = await launchAndRead(sshCompute(true), 'env-forwarded');
    expect(job.seen).toMatchObject({ ...PLACE, ...CREDENTIALS });
    expect(job.seen.MSM_TEST_NOT_FORWARDED).toBeUndefined();
    expect(statSync(job.envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(job.envFile, 'utf8')).toContain(`export AWS_SECRET_ACCESS_KEY='${SECRET}'`);
    expect(commandLines().filter((c) => c.includes(SECRET))).toEqual([]);
  }, 60_000);
});
