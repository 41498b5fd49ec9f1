import os from 'node:os';
import path from 'node:path';
import { DEFAULT_UNPOLLED_TIMEOUT_SEC, type Experiment } from '../config/experiment-schema';
import { endpointProblem } from '../security/allowlist';
import { machineProblem } from '../security/machines';
import { credentialProblem } from '../security/experiment-trust';
import { ComputeConfigError, type ComputeBackend } from './backend';
import { createLocalBackend } from './local';
import { createRunpodBackend } from './runpod';
import { createSlurmBackend } from './slurm';
import { createSshBackend, forwardedEnv, S3_ENV, STORE_PLACE_ENV } from './ssh';

export interface BackendPlaces {
  /** Local state: job folders of the local backend, the project's known_hosts. */
  stateDir: string;
  /** The trainer's Python for the local backend. */
  localPython: string;
}

/**
 * One backend per distinct `compute` setting (device aside: it travels in the manifest), kept for the
 * worker's life so an SSH control master serves every job on its host.
 */
export function backendPicker(places: BackendPlaces): (compute: Experiment['compute']) => ComputeBackend {
  const made = new Map<string, ComputeBackend>();
  return (compute) => {
    const { device: _device, ...where } = compute;
    const key = JSON.stringify(where);
    let b = made.get(key);
    if (!b) {
      b = make(compute, places);
      made.set(key, b);
    }
    return b;
  };
}

const home = (p: string) => p.replace(/^~(?=\/)/, os.homedir());

/**
 * The environment of a CPU trainer job.
 * - glibc's allocator: tensors under 1 GiB come from the heap and freed ones are kept for the next step. By
 *   default each large tensor (a small model's logits over a 128k vocabulary) is a fresh mmap, whose pages the
 *   kernel zeroes on every step: a step took 3× as long, most of it in the kernel.
 * - OpenMP threads that wait sleep instead of spinning: a CPU job shares its cores (the worker, the local
 *   model, other cells' jobs), and spinning threads burned half of a job's CPU beside other work. Alone on
 *   idle cores a small job is somewhat slower.
 * `npm run bench -- cpu-step` measures both (`--load N` beside N busy processes). GPU jobs keep the defaults.
 */
export const CPU_JOB_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(2 ** 30),
  MALLOC_TRIM_THRESHOLD_: String(2 ** 30),
  OMP_WAIT_POLICY: 'PASSIVE',
};

/** What every job's wrapper is told (see job-folder.sh): the watchdog's limit, and on device cpu CPU_JOB_ENV. */
export function jobEnv(where: Pick<Experiment['compute'], 'unpolledTimeoutSec' | 'device'>): Record<string, string> {
  return {
    MSM_UNPOLLED_TIMEOUT_SEC: String(where.unpolledTimeoutSec ?? DEFAULT_UNPOLLED_TIMEOUT_SEC),
    ...(where.device === 'cpu' ? CPU_JOB_ENV : {}),
  };
}

function make(where: Experiment['compute'], places: BackendPlaces): ComputeBackend {
  const refused = trustProblem(where);
  return refused ? refusingBackend(where.backend, refused) : backendOf(where, places);
}

/** The RunPod key variable and host, store credentials for a remote host, and the machines, as the worker allows them. */
function trustProblem(where: Experiment['compute']): string | undefined {
  return (
    (where.backend === 'runpod' ? endpointProblem('compute', where) : undefined) ??
    credentialProblem(where) ??
    machineProblem(where)
  );
}

/** A backend whose every call is refused as bad input: nothing is rented, read or sent (docs/security.md). */
function refusingBackend(name: string, why: string): ComputeBackend {
  const refuse = () => Promise.reject(new ComputeConfigError(why));
  return { name, provision: refuse, launch: refuse, poll: refuse, cancel: refuse, release: refuse, releaseJob: refuse };
}

function backendOf(where: Experiment['compute'], places: BackendPlaces): ComputeBackend {
  // The worker's own store credentials go to a remote host only when asked for and allowed (trustProblem).
  if (where.backend === 'slurm') return slurmBackendOf(where, places);
  const forwardEnv = where.backend !== 'local' && where.forwardStoreCredentials ? S3_ENV : undefined;
  if (where.backend === 'ssh') {
    const { device: _d, forwardStoreCredentials: _f, ...rest } = where;
    return createSshBackend({
      ...rest,
      forwardEnv,
      identityFile: home(where.identityFile),
      knownHostsFile: path.join(places.stateDir, 'ssh', 'known_hosts'),
      env: jobEnv(where),
    });
  }
  if (where.backend === 'runpod') {
    const { device: _d, interruptible: _spot, forwardStoreCredentials: _f, ...rest } = where;
    return createRunpodBackend({
      ...rest,
      forwardEnv,
      apiKey: () => process.env[where.apiKeyEnv],
      pricePerGpuHour: where.pricePerHour,
      identityFile: home(where.identityFile),
      knownHostsDir: path.join(places.stateDir, 'ssh', 'runpod'),
      stallMs: where.stallMinutes * 60_000,
      readyPollMs: Math.min(5000, where.statusCheckSec * 1000),
      env: jobEnv(where),
    });
  }
  return createLocalBackend({
    workDir: path.join(places.stateDir, 'compute'),
    python: places.localPython,
    env: jobEnv(where),
  });
}

/** Slurm from a login node: this machine, or one over ssh (its host key in the project's known_hosts). */
function slurmBackendOf(where: Extract<Experiment['compute'], { backend: 'slurm' }>, places: BackendPlaces) {
  const { device, loginHost, user, identityFile, port, connectTimeoutSec, ...rest } = where;
  const login =
    loginHost && user && identityFile
      ? {
          host: loginHost,
          port,
          user,
          identityFile: home(identityFile),
          knownHostsFile: path.join(places.stateDir, 'ssh', 'known_hosts'),
          connectTimeoutSec,
          commandTimeoutMs: connectTimeoutSec * 1000 + 20_000,
        }
      : undefined;
  // Where the store is goes to the job (the cluster uses credentials of its own); sbatch on this machine
  // also passes the worker's environment, as Slurm does by default.
  const secretEnv = () => forwardedEnv(STORE_PLACE_ENV);
  return createSlurmBackend({ ...rest, requestGpus: device !== 'cpu', login, env: jobEnv(where), secretEnv });
}
