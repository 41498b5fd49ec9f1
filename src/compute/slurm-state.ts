import type { JobStatus } from './backend';

/**
 * A Slurm trainer job's state from two answers: Slurm's (squeue: the job's state and restart count) and the
 * job folder's (events, and the exit code the wrapper writes when the trainer exits). A pid in the folder
 * means nothing on the login node, so the folder's own running/lost verdict is not used.
 */

/** The job's allocation ended under it: a preemption, resumed from the newest checkpoint in a new job. */
const INTERRUPTED: Record<string, string> = {
  CANCELLED: 'the Slurm job was cancelled (scancel)',
  TIMEOUT: 'the Slurm job reached its time limit (TIMEOUT)',
  PREEMPTED: 'Slurm preempted the job (PREEMPTED)',
  NODE_FAIL: 'a node of the Slurm job failed (NODE_FAIL)',
  BOOT_FAIL: 'a node of the Slurm job failed to boot (BOOT_FAIL)',
  DEADLINE: 'the Slurm job reached its deadline (DEADLINE)',
};

/** The job holds or waits for its allocation. */
const ACTIVE = new Set([
  'PENDING',
  'RUNNING',
  'CONFIGURING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
]);

export interface SlurmJobState {
  id: string;
  /** Slurm's state; GONE: Slurm no longer knows the job, NONE: none was submitted. */
  state: string;
  restarts: number;
}

/** slurmstate's line: "slurm ID STATE RESTARTS". */
export function parseSlurmState(line: string): SlurmJobState {
  const m = /^slurm (\S+) ([A-Z_]+) (\d+)$/.exec(line.trim());
  if (!m) throw new Error(`unreadable Slurm job state: ${line.slice(0, 200)}`);
  return { id: m[1], state: m[2], restarts: Number(m[3]) };
}

/**
 * Exit code first, unless Slurm ended the allocation: then only a clean exit stands (the trainer finished
 * just before). A requeued job (Slurm's own restart, which waits for a new begin time) counts as lost too:
 * the worker cancels it and submits a new job that resumes at once.
 */
export function slurmJobStatus(line: string, folder: JobStatus): JobStatus {
  const s = parseSlurmState(line);
  const exited = folder.state === 'exited' ? folder.exitCode : undefined;
  const { exitCode: _code, ...rest } = folder;
  const lost = (why: string): JobStatus => ({ ...rest, state: 'lost', lostReason: why });
  const where = `Slurm job ${s.id}`;
  if (exited === 0) return { ...folder, state: 'exited' };
  if (INTERRUPTED[s.state]) return lost(`${INTERRUPTED[s.state]}, ${where}`);
  if (s.restarts > 0) return lost(`Slurm requeued the job (restart ${s.restarts}, ${where})`);
  if (exited !== undefined) return { ...folder, state: 'exited' };
  if (ACTIVE.has(s.state)) return { ...folder, state: 'running' };
  if (s.state === 'NONE') return lost('no Slurm job was submitted for it');
  if (s.state === 'GONE') return lost(`${where} is gone from the queue and left no exit code`);
  // FAILED, OUT_OF_MEMORY, COMPLETED without the wrapper's exit code: the batch script itself failed.
  return { ...folder, state: 'exited', exitCode: 1, lostReason: `${where} ended ${s.state} before the trainer did` };
}
