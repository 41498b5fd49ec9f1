import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TrainerJobManifest } from '../training/job';
import {
  ComputeConfigError,
  type ComputeBackend,
  type JobStatus,
  type LaunchResult,
  type MachineHandle,
} from './backend';
import { envFileContent, jobFolder, parseStatus, worldEnv } from './job-folder';
import { localShell, shQuote, type Shell } from './shell';
import { HostUnreachableError, SshConnection, type SshTarget } from './ssh-connection';
import { PUSH } from './ssh';
import { DEFAULT_TRAINER_DIR, trainerBundle, trainerTar } from './trainer-bundle';
import { slurmJobStatus } from './slurm-state';

/**
 * The `slurm` backend: one trainer job is one Slurm job named after the job id, submitted with sbatch from
 * a login node (this machine, or one reached over ssh). Its batch script starts one torchrun node per
 * allocated host with srun, rendezvous on the first host, and runs the job-folder protocol (job-folder.sh)
 * in a folder on the cluster's shared file system. Whether the job runs is Slurm's answer (squeue); its
 * events and exit code are the folder's. See docs/compute.md, "Slurm".
 */
export interface SlurmBackendOptions {
  partition: string;
  account: string;
  qos?: string;
  /** sbatch --time, Slurm's format (e.g. "4:00:00", "2-00:00:00"); absent: the partition's default. */
  timeLimit?: string;
  /** Hosts of the allocation; default 1. */
  nodes?: number;
  /** Training processes per host (one per GPU); default 1. */
  gpusPerNode?: number;
  /** Ask Slurm for the GPUs (--gpus-per-node, or `gres`); false for CPU ranks (device cpu). */
  requestGpus?: boolean;
  /** sbatch --gres instead of --gpus-per-node, e.g. "gpu:a100:4". */
  gres?: string;
  /** sbatch --cpus-per-task (one task per host). */
  cpusPerNode?: number;
  /** sbatch --mem (per host), e.g. "200G". */
  memory?: string;
  /** Further sbatch options, e.g. ["--constraint=a100"]. */
  sbatchArgs?: readonly string[];
  pricePerGpuHour?: number;
  /** Job folders and trainer copies, on the shared file system; a relative path is under the login's home. */
  workDir: string;
  /** Python on the compute nodes with the trainer's requirements. */
  python?: string;
  /** The login node over ssh; absent: this machine is one (sbatch, squeue and scancel run here). */
  login?: SshTarget;
  /** The local folder holding the msm_trainer package; default <repo>/trainer. */
  trainerDir?: string;
  env?: Record<string, string>;
  /** Variables with credentials, written to the job folder's owner-only env file at each launch. */
  secretEnv?: () => Record<string, string>;
  /** How long cancel waits for the job's processes to be gone after scancel. */
  cancelGraceMs?: number;
  /** Limit for one command on the login node. */
  commandTimeoutMs?: number;
}

const LIB = ['job-folder.sh', 'slurm.sh'].map((f) => readFileSync(path.join(__dirname, f), 'utf8')).join('\n');
const STDERR_TAIL_BYTES = 4000;
/** sbatch could not reach the controller: try again later (anything else it refuses is the experiment's). */
const CONTROLLER_DOWN =
  /Unable to contact|Socket timed out|connect failure|Connection refused|Zero Bytes were transmitted/i;
const PUSH_TIMEOUT_MS = 300_000;

// place WORKDIR HASH: the absolute work folder (relative: under $HOME), and whether the trainer is there.
const PLACE = `cd "$HOME" 2>/dev/null; mkdir -p "$1/jobs" && cd "$1" || exit 1
pwd
if [ -f "trainer-$2/.complete" ]; then echo yes; else echo no; fi
command -v sbatch > /dev/null || { echo "sbatch is not on the PATH of the login node" >&2; exit 5; }`;

/** Slurm job names are the job ids, kept to the job folders' alphabet. */
export const slurmJobName = (jobId: string): string => path.posix.basename(jobFolder('/', jobId));

/** A job's hosts and processes per host: a training job's world; any other job (sampling) runs 1 × 1. */
export interface JobShape {
  nodes: number;
  procsPerNode: number;
}

const configuredShape = (o: SlurmBackendOptions): JobShape => ({
  nodes: o.nodes ?? 1,
  procsPerNode: o.gpusPerNode ?? 1,
});
const shapeOf = (manifest?: TrainerJobManifest): JobShape => manifest?.world ?? { nodes: 1, procsPerNode: 1 };

/**
 * The sbatch options of a job from the experiment's compute block, sized to the job (default: the block's
 * nodes × gpusPerNode). `gres` is taken as written.
 */
export function sbatchOptions(o: SlurmBackendOptions, shape = configuredShape(o)): string[] {
  const gpuOption = o.gres ? [`--gres=${o.gres}`] : [`--gpus-per-node=${shape.procsPerNode}`];
  return [
    `--partition=${o.partition}`,
    `--account=${o.account}`,
    ...(o.qos ? [`--qos=${o.qos}`] : []),
    ...(o.timeLimit ? [`--time=${o.timeLimit}`] : []),
    `--nodes=${shape.nodes}`,
    '--ntasks-per-node=1',
    ...(o.requestGpus === false ? [] : gpuOption),
    ...(o.cpusPerNode ? [`--cpus-per-task=${o.cpusPerNode}`] : []),
    ...(o.memory ? [`--mem=${o.memory}`] : []),
    ...(o.sbatchArgs ?? []),
  ];
}

/**
 * The batch script: the job-folder and Slurm shell functions, then `batch`, which runs on the first host of
 * the allocation and starts `node` on every host with srun. Several hosts meet at a free port of the first.
 */
export function batchScript(nodes: number, trainerDir: string, python: string): string {
  const [t, py] = [shQuote(trainerDir), shQuote(python)];
  const rendezvous =
    nodes > 1
      ? [
          '  MSM_MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1) || exit 1',
          `  MSM_MASTER_PORT=$(freeport ${py}) || exit 1`,
          '  export MSM_MASTER_ADDR MSM_MASTER_PORT',
        ]
      : [];
  const srun =
    `  exec srun --nodes=${nodes} --ntasks-per-node=1 --kill-on-bad-exit=1` +
    ' ${SLURM_CPUS_PER_TASK:+--cpus-per-task=$SLURM_CPUS_PER_TASK}' +
    ` sh "$1/batch.sh" node "$1" ${t} ${py}`;
  return [
    '#!/bin/sh',
    LIB,
    'batch() {',
    '  rm -f "$1/exit_code"',
    ...rendezvous,
    srun,
    '}',
    'fn=$1',
    'shift',
    'case $fn in batch | node) "$fn" "$@" ;; *) echo "unknown call $fn" >&2; exit 2 ;; esac',
    '',
  ].join('\n');
}

/** The world's variables every node reads from the job's env file; rank and rendezvous come from srun. */
function slurmWorldEnv(manifest: TrainerJobManifest): Record<string, string> {
  const w = manifest.world;
  if (!w || w.nodes <= 1) return worldEnv(manifest);
  return { MSM_NNODES: String(w.nodes), MSM_NPROC_PER_NODE: String(w.procsPerNode) };
}

export function createSlurmBackend(opts: SlurmBackendOptions): ComputeBackend {
  return new SlurmBackend(opts);
}

class SlurmBackend implements ComputeBackend {
  readonly name = 'slurm';
  private readonly shell: Shell;
  private readonly where: string;
  private readonly python: string;

  constructor(private readonly o: SlurmBackendOptions) {
    this.shell = o.login ? new SshConnection(o.login) : localShell;
    this.where = o.login ? `${o.login.user}@${o.login.host}:${o.login.port}` : 'this machine';
    this.python = o.python ?? 'python3';
  }

  private async call(fn: string, args: string[], input?: string | Buffer, timeoutMs = this.o.commandTimeoutMs) {
    return this.shell.run(`${LIB}\n${fn} "$@"\n`, args, { input, timeoutMs });
  }

  /** Slurm would take the job as configured, and the work folder has the current trainer (copied once). */
  async provision(jobId: string, manifest?: TrainerJobManifest): Promise<MachineHandle> {
    const shape = manifest ? shapeOf(manifest) : configuredShape(this.o);
    await this.testSubmit(shape);
    const bundle = await trainerBundle(path.resolve(this.o.trainerDir ?? DEFAULT_TRAINER_DIR));
    const workDir = await this.place(bundle);
    return {
      backend: 'slurm',
      machineId: `slurm:${this.o.partition}:${slurmJobName(jobId)}`,
      details: {
        workDir,
        trainerDir: `${workDir}/trainer-${bundle.hash}`,
        partition: this.o.partition,
        jobName: slurmJobName(jobId),
        gpuCount: shape.nodes * shape.procsPerNode,
        ...(this.o.pricePerGpuHour !== undefined ? { pricePerGpuHour: this.o.pricePerGpuHour } : {}),
      },
    };
  }

  /** sbatch --test-only with the job's options: an unknown partition, account, QoS or GRES is bad input. */
  private async testSubmit(shape: JobShape): Promise<void> {
    const r = await this.call('testonly', sbatchOptions(this.o, shape));
    if (r.code === 0) return;
    const why = `sbatch --test-only on ${this.where}: ${r.stderr.trim() || `exit ${r.code}`}`;
    if (CONTROLLER_DOWN.test(r.stderr)) throw new Error(`the Slurm controller does not answer (${why})`);
    throw new ComputeConfigError(`Slurm refuses the job as compute configures it (${why}); check compute`);
  }

  private async place(bundle: Awaited<ReturnType<typeof trainerBundle>>): Promise<string> {
    const r = await this.shell.run(PLACE, [this.o.workDir, bundle.hash], { timeoutMs: this.o.commandTimeoutMs });
    const [workDir, has] = r.stdout.toString().trim().split('\n');
    if (r.code !== 0 || !workDir?.startsWith('/'))
      throw new ComputeConfigError(
        `cannot use compute.workDir ${this.o.workDir} on the Slurm login node (${this.where}): ${r.stderr.trim() || `exit ${r.code}`}`,
      );
    if (has !== 'yes') {
      const trainerDir = path.resolve(this.o.trainerDir ?? DEFAULT_TRAINER_DIR);
      const input = await trainerTar(trainerDir, bundle);
      const p = await this.shell.run(PUSH, [workDir, bundle.hash], { input, timeoutMs: PUSH_TIMEOUT_MS });
      if (p.code !== 0) throw new Error(`could not copy the trainer to ${this.where}:${workDir}: ${p.stderr.trim()}`);
    }
    return workDir;
  }

  /** Submit the job, or re-attach to the Slurm job of that name still in the queue. */
  async launch(machine: MachineHandle, manifest: TrainerJobManifest): Promise<LaunchResult> {
    const dir = jobFolder(String(machine.details.workDir), manifest.jobId);
    const env = { ...this.o.env, ...slurmWorldEnv(manifest), ...this.o.secretEnv?.() };
    const shape = shapeOf(manifest);
    const script = batchScript(shape.nodes, String(machine.details.trainerDir), this.python);
    await this.put(`${dir}/env`, envFileContent(env), manifest.jobId);
    await this.put(`${dir}/batch.sh`, script, manifest.jobId);
    const r = await this.call(
      'submit',
      [dir, slurmJobName(manifest.jobId), ...sbatchOptions(this.o, shape)],
      JSON.stringify(manifest, null, 2) + '\n',
    );
    const m = /^(started|attached) (\d+)/m.exec(r.stdout.toString());
    if (r.code !== 0 || !m)
      throw new Error(`could not submit trainer job ${manifest.jobId} (exit ${r.code}): ${r.stderr.trim()}`);
    return { attached: m[1] === 'attached' };
  }

  /** An owner-only file in the job folder (the env file holds credentials). */
  private async put(file: string, content: string, jobId: string): Promise<void> {
    const r = await this.call('putfile', [file], content);
    if (r.code !== 0) throw new Error(`could not write ${file} of trainer job ${jobId}: ${r.stderr.trim()}`);
  }

  async poll(machine: MachineHandle, jobId: string, cursor: number): Promise<JobStatus> {
    const dir = jobFolder(String(machine.details.workDir), jobId);
    let r;
    try {
      r = await this.call('slurmstatus', [dir, String(Math.max(0, cursor)), String(STDERR_TAIL_BYTES)]);
    } catch (e) {
      if (e instanceof HostUnreachableError)
        return { state: 'unreachable', events: [], nextCursor: cursor, lostReason: e.message };
      throw e;
    }
    const out = r.stdout;
    const nl = out.indexOf(0x0a);
    if (r.code !== 0 || nl < 0)
      throw new Error(`could not read the status of trainer job ${jobId} (exit ${r.code}): ${r.stderr.trim()}`);
    return slurmJobStatus(out.subarray(0, nl).toString(), parseStatus(out.subarray(nl + 1)));
  }

  async cancel(_machine: MachineHandle, jobId: string): Promise<void> {
    await this.cancelByName(jobId);
  }

  /** Nothing stays held once the Slurm job has ended; one still queued or running is cancelled. */
  async release(machine: MachineHandle): Promise<void> {
    const name = String(machine.details.jobName);
    await this.cancelByName(name, ['release', name, jobFolder(String(machine.details.workDir), name)], 10_000);
  }

  /** Cleanup after a failed or cancelled run: scancel whatever Slurm still holds for the job. */
  async releaseJob(jobId: string): Promise<number> {
    return this.cancelByName(jobId);
  }

  /** scancel by name (`call`: another shell function first, e.g. release's wait), waiting up to the grace. */
  private async cancelByName(jobId: string, call = ['cancelname', slurmJobName(jobId)], extraMs = 0): Promise<number> {
    const grace = this.o.cancelGraceMs ?? 30_000;
    const [fn, ...args] = call;
    const r = await this.call(
      fn,
      [...args, String(Math.ceil(grace / 100))],
      undefined,
      (this.o.commandTimeoutMs ?? 0) + grace + extraMs + 5000,
    );
    if (r.code !== 0) throw new Error(`could not scancel trainer job ${jobId} (exit ${r.code}): ${r.stderr.trim()}`);
    return Number(r.stdout.toString().trim()) || 0;
  }
}
