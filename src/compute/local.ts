import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { TrainerJobManifest } from '../training/job';
import type { ComputeBackend, JobStatus, LaunchResult, MachineHandle } from './backend';
import { JobFolders } from './job-folder';
import { localShell } from './shell';
import { DEFAULT_TRAINER_DIR } from './trainer-bundle';

/**
 * The `local` backend: trainer jobs are subprocesses of this machine that outlive the worker, kept in job
 * folders under <workDir>/jobs/ (the protocol: job-folder.sh).
 */
export interface LocalBackendOptions {
  workDir: string;
  /** Python with the trainer's requirements; default $MSM_PYTHON, else python3. */
  python?: string;
  /** The folder holding the msm_trainer package; default <repo>/trainer. */
  trainerDir?: string;
  /** Extra environment for the job (e.g. MSM_TORCH_THREADS, CUDA_VISIBLE_DEVICES). */
  env?: Record<string, string>;
  /** How long cancel waits after SIGTERM before SIGKILL. */
  cancelGraceMs?: number;
}

/**
 * One job at a time on this machine (whatever the GPU queue's slots): jobs of one worker wait here, in
 * provision (which heartbeats), for the job before them to release the machine.
 */
class MachineTurns {
  private holder: string | undefined;
  private readonly waiting: Array<() => void> = [];

  async take(jobId: string): Promise<void> {
    while (this.holder !== undefined && this.holder !== jobId) await new Promise<void>((r) => this.waiting.push(r));
    this.holder = jobId;
  }

  give(jobId: string): void {
    if (this.holder !== jobId) return;
    this.holder = undefined;
    this.waiting.shift()?.();
  }
}

const turnsByWorkDir = new Map<string, MachineTurns>();

export function createLocalBackend(opts: LocalBackendOptions): ComputeBackend {
  const workDir = path.resolve(opts.workDir);
  let turns = turnsByWorkDir.get(workDir);
  if (!turns) turnsByWorkDir.set(workDir, (turns = new MachineTurns()));
  const machine = turns;
  const jobs = new JobFolders({
    shell: localShell,
    root: path.resolve(opts.workDir),
    trainerDir: path.resolve(opts.trainerDir ?? DEFAULT_TRAINER_DIR),
    python: opts.python ?? process.env.MSM_PYTHON ?? 'python3',
    env: opts.env,
    cancelGraceMs: opts.cancelGraceMs ?? 10_000,
  });
  return {
    name: 'local',

    async provision(jobId: string): Promise<MachineHandle> {
      await fs.mkdir(path.join(opts.workDir, 'jobs'), { recursive: true });
      await machine.take(jobId);
      return { backend: 'local', machineId: 'local', details: { workDir: opts.workDir, jobId } };
    },

    async launch(_machine: MachineHandle, manifest: TrainerJobManifest): Promise<LaunchResult> {
      return { attached: (await jobs.launch(manifest)).attached };
    },

    poll: (_machine: MachineHandle, jobId: string, cursor: number): Promise<JobStatus> => jobs.poll(jobId, cursor),

    cancel: (_machine: MachineHandle, jobId: string): Promise<void> => jobs.cancel(jobId),

    async release(m: MachineHandle): Promise<void> {
      // Nothing rented to give back; the machine's turn goes to the next job.
      machine.give(String(m.details.jobId));
    },
  };
}
