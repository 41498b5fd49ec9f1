import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeBackend, MachineHandle } from '../src/compute/backend';
import { createSshBackend } from '../src/compute/ssh';
import { pythonExecutable } from '../src/util/project-paths';
import { environOf, jobFile, trainerOf } from './helpers/job-processes';
import { Sshd } from './helpers/sshd';
import { tinyTrainManifest, writeTinyDataset } from './helpers/tiny-trainer-job';

/**
 * S3-backed jobs need the worker's AWS_* credentials and MSM_S3_ENDPOINT on the remote machine. They go
 * through an owner-only env file written over stdin, never through a command line (which `ps` shows to
 * every user of both machines). Real sshd on loopback, real trainer.
 */
const SECRET = `msm-secret-${Math.random().toString(36).slice(2)}`;
const FORWARDED = {
  AWS_ACCESS_KEY_ID: 'msm-test-key-id',
  AWS_SECRET_ACCESS_KEY: SECRET,
  AWS_REGION: 'us-test-1',
  MSM_S3_ENDPOINT: 'http://127.0.0.1:9',
};

let root: string;
let sshd: Sshd;
let backend: ComputeBackend;
let machine: MachineHandle | undefined;
const jobId = 'env-forwarding';

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-ssh-env-'));
  sshd = await Sshd.start();
  Object.assign(process.env, FORWARDED, { MSM_TEST_NOT_FORWARDED: 'stays-here' });
  backend = createSshBackend({
    host: '127.0.0.1',
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    workDir: path.join(root, 'remote'),
    python: pythonExecutable(),
    knownHostsFile: path.join(root, 'known_hosts'),
    env: { MSM_TORCH_THREADS: '1' },
    cancelGraceMs: 2000,
    connectTimeoutSec: 2,
  });
}, 60_000);

afterAll(async () => {
  for (const k of [...Object.keys(FORWARDED), 'MSM_TEST_NOT_FORWARDED']) delete process.env[k];
  if (machine) {
    await backend.cancel(machine, jobId).catch(() => undefined);
    await backend.release(machine);
  }
  await sshd?.stop();
  rmSync(root, { recursive: true, force: true });
});

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

describe('ssh jobs get the S3 environment through an env file', () => {
  it('the trainer sees AWS_* and MSM_S3_ENDPOINT, the file is mode 600, no command line holds the secret', async () => {
    const data = await writeTinyDataset(path.join(root, 'data'));
    machine = await backend.provision(jobId);
    const manifest = {
      ...tinyTrainManifest(root, data.manifestUri, 'env', { maxSteps: 100_000, epochs: 100_000 }),
      jobId,
    };
    await backend.launch(machine, manifest);
    const trainer = await trainerOf(machine, jobId);

    // sshd starts the job with its own session environment: these can only have come from the env file.
    const seen = environOf(trainer);
    expect(seen).toMatchObject(FORWARDED);
    expect(seen.MSM_TEST_NOT_FORWARDED).toBeUndefined();
    expect(seen.MSM_TORCH_THREADS).toBe('1');

    const envFile = jobFile(machine, jobId, 'env');
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(envFile, 'utf8')).toContain(`export AWS_SECRET_ACCESS_KEY='${SECRET}'`);
    expect(commandLines().filter((c) => c.includes(SECRET))).toEqual([]);
  }, 60_000);
});
