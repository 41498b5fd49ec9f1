import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { estimateJobDiskGb } from '../plan/disk';
import type { TrainerJobManifest } from '../training/job';
import {
  ComputeCapacityError,
  ComputeConfigError,
  type ComputeBackend,
  type JobMachine,
  type JobStatus,
  type MachineHandle,
} from './backend';
import { jobDiskNeeds } from './job-disk';
import {
  podCostPerHour,
  podSshAddress,
  RunpodApi,
  RunpodApiError,
  type CreatePodBody,
  type RunpodPod,
} from './runpod-api';
import { createSshBackend, type SshBackendOptions } from './ssh';
import { HostUnreachableError } from './ssh-connection';

/**
 * The `runpod` backend: a GPU pod rented through RunPod's REST API v2 per job, driven over SSH with the ssh
 * backend (the job-folder protocol), terminated on release. The pod is named after the job, so a retry
 * after a worker crash finds and re-attaches to it instead of renting a second one, and cleanup can find
 * it without a handle. Stock is read from the GPU catalog before a create. A pod in PROVISIONING/STARTING
 * is still starting; ERROR while starting is a pod that cannot run (fails at once, with the fix); the
 * provider reporting the pod EXITED/TERMINATED/ERROR later is a lost machine (a preemption).
 */
export interface RunpodBackendOptions {
  baseUrl: string;
  /** Read when provisioning (a missing key is a config error there, not at worker start). */
  apiKey: () => string | undefined;
  apiKeyEnv: string;
  gpuType: string;
  gpuCount: number;
  cloudType: 'SECURE' | 'COMMUNITY';
  image: string;
  /** Container disk floor in GB: the job's estimate (weights, checkpoints, margin) is used when larger. */
  containerDiskGb: number;
  /** USD per GPU-hour, used when the API does not report the pod's cost per hour. */
  pricePerGpuHour?: number;
  user: string;
  /** Private key on this machine; its .pub goes to the pod as PUBLIC_KEY (how RunPod images authorise SSH). */
  identityFile: string;
  /** Per-pod known_hosts files live here: every pod is a new host, trusted on first contact. */
  knownHostsDir: string;
  workDir: string;
  python: string;
  trainerDir?: string;
  env?: Record<string, string>;
  /** The worker's variables the pod's jobs get (default: the ssh backend's, no credentials). */
  forwardEnv?: (name: string) => boolean;
  cancelGraceMs?: number;
  connectTimeoutSec: number;
  commandTimeoutMs?: number;
  startTimeoutSec: number;
  /** How often poll asks the API whether the pod still exists (the SSH poll runs every second). */
  statusCheckSec: number;
  /** Wait before the next try when RunPod has no capacity. */
  capacityRetrySec: number;
  /** Readiness polling while the pod starts. */
  readyPollMs?: number;
  stallMs?: number;
}

/** Pod names are how retries and cleanup find a job's pod. */
const POD_PREFIX = 'msm-';
export const podName = (jobId: string) => `${POD_PREFIX}${jobId}`;

/** The provider stopped or removed the pod: whatever ran there is gone. */
const GONE = new Set(['EXITED', 'TERMINATED']);
/** Still coming up: allocated (PROVISIONING) or its container starting (STARTING). */
const COMING_UP = new Set(['PROVISIONING', 'STARTING']);
/** Unrecoverable: the container cannot run (a bad image, a crash at start). */
const ERROR = 'ERROR';
const unusable = (status: string | undefined) => GONE.has(status ?? '') || status === ERROR;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One backend's state: its options, the API client (made once the key is known) and an ssh backend per pod. */
interface Pods {
  opts: RunpodBackendOptions;
  sshByPod: Map<string, ComputeBackend>;
  lastStatusCheck: Map<string, number>;
  client(): RunpodApi;
}

function podsOf(opts: RunpodBackendOptions): Pods {
  let api: RunpodApi | undefined;
  return {
    opts,
    sshByPod: new Map(),
    lastStatusCheck: new Map(),
    client() {
      const key = opts.apiKey();
      if (!key)
        throw new ComputeConfigError(
          `compute.apiKeyEnv: the environment variable ${opts.apiKeyEnv} (the RunPod API key) is not set for the worker`,
        );
      api ??= new RunpodApi({ baseUrl: opts.baseUrl, apiKey: key });
      return api;
    },
  };
}

/** API failures a person must fix become config errors; no capacity is retried later. */
function mapApiError(s: Pods, e: unknown): unknown {
  if (!(e instanceof RunpodApiError)) return e;
  if (e.kind === 'capacity') {
    return new ComputeCapacityError(
      `${e.message} (no ${s.opts.gpuCount}x ${s.opts.gpuType} in ${s.opts.cloudType} cloud now; retrying in ${s.opts.capacityRetrySec} s)`,
      s.opts.capacityRetrySec * 1000,
    );
  }
  if (e.kind === 'transient' && e.retryAfterMs !== undefined)
    return new ComputeCapacityError(
      `${e.message} (RunPod asks to wait ${Math.round(e.retryAfterMs / 1000)} s)`,
      e.retryAfterMs,
    );
  if (e.kind === 'auth')
    return new ComputeConfigError(
      `${e.message}: check the key in ${s.opts.apiKeyEnv} (and its access to this GPU pool)`,
    );
  if (e.kind === 'billing') return new ComputeConfigError(`${e.message}: add funds to the RunPod account`);
  if (e.kind === 'bad-request')
    return new ComputeConfigError(`${e.message}: check compute.gpuType, compute.image and compute.cloudType`);
  return e;
}

/**
 * What the job folder's watchdog runs once no worker has polled the job for compute.unpolledTimeoutSec: the pod
 * removes itself with runpodctl, which RunPod's images carry with a key scoped to the pod (not run against
 * RunPod from here; the reaper Schedule is the other line of defence).
 */
export const selfRemoval = (podId: string) => `runpodctl remove pod ${podId.replace(/[^A-Za-z0-9_-]/g, '')}`;

function sshFor(s: Pods, podId: string, host: string, port: number): ComputeBackend {
  let b = s.sshByPod.get(podId);
  if (!b) {
    const o: SshBackendOptions = {
      host,
      port,
      user: s.opts.user,
      identityFile: s.opts.identityFile,
      workDir: s.opts.workDir,
      python: s.opts.python,
      knownHostsFile: path.join(s.opts.knownHostsDir, podId.replace(/[^A-Za-z0-9_-]/g, '_')),
      trainerDir: s.opts.trainerDir,
      env: { ...s.opts.env, MSM_UNPOLLED_COMMAND: selfRemoval(podId) },
      forwardEnv: s.opts.forwardEnv,
      cancelGraceMs: s.opts.cancelGraceMs,
      connectTimeoutSec: s.opts.connectTimeoutSec,
      commandTimeoutMs: s.opts.commandTimeoutMs,
    };
    b = createSshBackend(o);
    s.sshByPod.set(podId, b);
  }
  return b;
}

const sshOf = (s: Pods, m: MachineHandle) => sshFor(s, m.machineId, String(m.details.host), Number(m.details.port));

function publicKey(s: Pods): string {
  const pub = `${s.opts.identityFile}.pub`;
  if (!existsSync(pub))
    throw new ComputeConfigError(
      `compute.identityFile: ${pub} is missing; a RunPod pod authorises the public key given as PUBLIC_KEY`,
    );
  return readFileSync(pub, 'utf8').trim();
}

/** The job's pod from an earlier attempt if it still runs; pods of that name that stopped are terminated. */
async function existingPod(s: Pods, name: string): Promise<RunpodPod | undefined> {
  let live: RunpodPod | undefined;
  for (const p of await s.client().podsNamed(name)) {
    if (!live && !unusable(p.status)) live = p;
    else await s.client().terminatePod(p.id);
  }
  return live;
}

/**
 * Stock before renting: the catalog must list the GPU type in this cloud for this many GPUs, with stock.
 * An unknown type or too many GPUs is a config error; no stock now is a capacity error (retried later).
 */
async function checkStock(s: Pods): Promise<void> {
  const { gpuType, gpuCount, cloudType } = s.opts;
  const gpus = await s.client().gpuCatalog({ count: gpuCount, cloud: cloudType });
  const gpu = gpus.find((g) => g.id === gpuType);
  if (!gpu)
    throw new ComputeConfigError(
      `compute.gpuType: RunPod's catalog has no GPU type "${gpuType}"; use one of its ids, e.g. ${gpus
        .slice(0, 5)
        .map((g) => `"${g.id}"`)
        .join(', ')}`,
    );
  const cloud = cloudType === 'SECURE' ? 'secure' : 'community';
  if (gpu[cloud] === false)
    throw new ComputeConfigError(`compute.cloudType: ${gpuType} is not offered in RunPod's ${cloudType} cloud`);
  const most = gpu.maxCount?.[cloud];
  if (most !== undefined && gpuCount > most)
    throw new ComputeConfigError(
      `compute.gpuCount: a ${cloudType} pod of ${gpuType} has at most ${most} GPUs; set gpuCount ≤ ${most}`,
    );
  if (!gpu.availability || gpu.availability === 'NONE')
    throw new ComputeCapacityError(
      `RunPod's catalog shows no stock of ${gpuCount}x ${gpuType} in ${cloudType} cloud now; retrying in ${s.opts.capacityRetrySec} s`,
      s.opts.capacityRetrySec * 1000,
    );
}

/** The job's container disk: its estimate when known and larger than the configured floor. */
export function podDiskGb(floorGb: number, manifest?: TrainerJobManifest): number {
  const needs = manifest ? jobDiskNeeds(manifest) : undefined;
  return needs ? estimateJobDiskGb(needs, floorGb) : floorGb;
}

/** The v2 create body of a job's pod: sshd published on 22/tcp, authorised for our key (PUBLIC_KEY). */
export function createPodBody(
  o: Pick<RunpodBackendOptions, 'image' | 'gpuType' | 'gpuCount' | 'cloudType'>,
  name: string,
  diskGb: number,
  publicKeyText: string,
): CreatePodBody {
  return {
    name,
    image: o.image,
    gpu: { id: o.gpuType, count: o.gpuCount },
    cloud: o.cloudType,
    disk: diskGb,
    ports: ['22/tcp'],
    env: { PUBLIC_KEY: publicKeyText },
  };
}

async function createPod(s: Pods, name: string, diskGb: number): Promise<RunpodPod> {
  await checkStock(s);
  return s.client().createPod(createPodBody(s.opts, name, diskGb, publicKey(s)));
}

/**
 * RUNNING with its sshd published (ssh.direct). PROVISIONING/STARTING keep waiting; ERROR fails at once: the
 * container cannot run, and renting again would fail the same way.
 */
async function waitReady(
  s: Pods,
  podId: string,
  deadline: number,
): Promise<{ pod: RunpodPod; host: string; port: number }> {
  for (;;) {
    const pod = await s.client().getPod(podId);
    if (pod.status === ERROR)
      throw new ComputeConfigError(
        `RunPod pod ${podId} went to ERROR while starting (its container cannot run): check compute.image (${s.opts.image}) — it must exist, be pullable and start sshd from PUBLIC_KEY`,
      );
    if (GONE.has(pod.status ?? '')) throw new Error(`RunPod pod ${podId} became ${pod.status} while starting`);
    const ssh = podSshAddress(pod);
    if (pod.status === 'RUNNING' && ssh) return { pod, ...ssh };
    if (Date.now() > deadline)
      throw new Error(
        `RunPod pod ${podId} was not reachable within ${s.opts.startTimeoutSec} s (status ${pod.status ?? '?'}${COMING_UP.has(pod.status ?? '') ? ', still starting' : ''})`,
      );
    await sleep(s.opts.readyPollMs ?? 5000);
  }
}

/** Why the provider says the pod is gone, or null while it runs (or the API cannot say now). */
async function providerLoss(s: Pods, podId: string): Promise<string | null> {
  try {
    const pod = await s.client().getPod(podId);
    return unusable(pod.status) ? `RunPod reports pod ${podId} ${pod.status}` : null;
  } catch (e) {
    if (e instanceof RunpodApiError && e.kind === 'not-found') return `RunPod has no pod ${podId} any more`;
    return null;
  }
}

/**
 * A pod reported gone may have finished the job first (the reclaim came after `done`): when its job
 * folder still answers with a clean exit, that is the job's end, not a preemption.
 */
async function finishedBefore(
  s: Pods,
  m: MachineHandle,
  jobId: string,
  cursor: number,
): Promise<JobStatus | undefined> {
  const st = await sshOf(s, m)
    .poll(m, jobId, cursor)
    .catch(() => undefined);
  return st?.state === 'exited' && st.exitCode === 0 ? st : undefined;
}

/** Terminate with a few quick retries: a pod left running costs money until someone notices. */
async function terminate(s: Pods, podId: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await s.client().terminatePod(podId);
      return;
    } catch (e) {
      if (i >= 3 || (e instanceof RunpodApiError && e.kind === 'auth')) throw e;
      await sleep(1000 * 2 ** i);
    }
  }
}

/** sshd in a fresh container may refuse connections for a while after the API says RUNNING. */
async function sshWhenUp(s: Pods, ssh: ComputeBackend, jobId: string, deadline: number): Promise<MachineHandle> {
  for (;;) {
    try {
      return await ssh.provision(jobId);
    } catch (e) {
      if (!(e instanceof HostUnreachableError) || Date.now() > deadline) throw e;
      await sleep(s.opts.readyPollMs ?? 5000);
    }
  }
}

/** The job's pod (an earlier attempt's if it still runs, else a new one), reachable over ssh and priced. */
async function provisionPod(s: Pods, jobId: string, manifest?: TrainerJobManifest): Promise<MachineHandle> {
  const name = podName(jobId);
  let pod: RunpodPod;
  try {
    pod = (await existingPod(s, name)) ?? (await createPod(s, name, podDiskGb(s.opts.containerDiskGb, manifest)));
  } catch (e) {
    throw mapApiError(s, e);
  }
  try {
    const deadline = Date.now() + s.opts.startTimeoutSec * 1000;
    const ready = await waitReady(s, pod.id, deadline);
    const handle = await sshWhenUp(s, sshFor(s, pod.id, ready.host, ready.port), jobId, deadline);
    const reported = podCostPerHour(ready.pod) ?? podCostPerHour(pod);
    const gpuCount = ready.pod.gpu?.count ?? s.opts.gpuCount;
    const pricePerGpuHour = reported !== null ? reported / gpuCount : (s.opts.pricePerGpuHour ?? null);
    return {
      backend: 'runpod',
      machineId: pod.id,
      details: { ...handle.details, podId: pod.id, gpuCount, ...(pricePerGpuHour !== null ? { pricePerGpuHour } : {}) },
    };
  } catch (e) {
    // A pod that never became usable is given back at once; the retry rents a new one.
    await terminate(s, pod.id).catch(() => undefined);
    throw mapApiError(s, e);
  }
}

export function createRunpodBackend(opts: RunpodBackendOptions): ComputeBackend {
  const s = podsOf(opts);
  return {
    name: 'runpod',
    stallMs: s.opts.stallMs,

    provision: (jobId: string, manifest?: TrainerJobManifest) => provisionPod(s, jobId, manifest),

    launch: (m: MachineHandle, manifest: TrainerJobManifest) => sshOf(s, m).launch(m, manifest),

    async poll(m: MachineHandle, jobId: string, cursor: number): Promise<JobStatus> {
      const now = Date.now();
      if (now - (s.lastStatusCheck.get(m.machineId) ?? 0) >= s.opts.statusCheckSec * 1000) {
        s.lastStatusCheck.set(m.machineId, now);
        const lost = await providerLoss(s, m.machineId);
        if (lost)
          return (
            (await finishedBefore(s, m, jobId, cursor)) ?? {
              state: 'lost',
              events: [],
              nextCursor: cursor,
              lostReason: lost,
            }
          );
      }
      const st = await sshOf(s, m).poll(m, jobId, cursor);
      if (st.state === 'lost') return { ...st, lostReason: (await providerLoss(s, m.machineId)) ?? st.lostReason };
      // The pod does not answer: ask the provider at once; a pod it no longer has is lost, confirmed.
      if (st.state === 'unreachable') {
        const gone = await providerLoss(s, m.machineId);
        if (gone) return { ...st, state: 'lost', lostReason: gone };
      }
      return st;
    },

    async cancel(m: MachineHandle, jobId: string): Promise<void> {
      try {
        await sshOf(s, m).cancel(m, jobId);
      } catch (e) {
        // A pod that cannot be reached runs nothing we can stop; terminating it (release) stops it.
        if (!(e instanceof HostUnreachableError)) throw e;
      }
    },

    async release(m: MachineHandle): Promise<void> {
      const ssh = s.sshByPod.get(m.machineId);
      s.sshByPod.delete(m.machineId);
      s.lastStatusCheck.delete(m.machineId);
      await ssh?.release(m).catch(() => undefined);
      await terminate(s, m.machineId);
    },

    async listJobMachines(): Promise<JobMachine[]> {
      try {
        const pods = await s.client().listPodsWithPrefix(POD_PREFIX);
        return pods.map((p) => ({ jobId: p.name!.slice(POD_PREFIX.length), machineId: p.id }));
      } catch (e) {
        throw mapApiError(s, e);
      }
    },

    async releaseJob(jobId: string): Promise<number> {
      try {
        const pods = await s.client().podsNamed(podName(jobId));
        for (const p of pods) {
          await s.sshByPod
            .get(p.id)
            ?.release({ backend: 'runpod', machineId: p.id, details: {} })
            .catch(() => undefined);
          s.sshByPod.delete(p.id);
          await terminate(s, p.id);
        }
        return pods.length;
      } catch (e) {
        throw mapApiError(s, e);
      }
    },
  };
}
