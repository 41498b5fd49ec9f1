import type { TrainerEvent, TrainerJobManifest } from '../training/job';

/**
 * A compute backend: provision -> launch -> poll -> cancel -> release. Every call is idempotent so an
 * activity retry after a worker crash re-attaches to a job that is still running instead of starting a
 * second one into the same checkpoint folder.
 */
export interface MachineHandle {
  backend: string;
  machineId: string;
  /** Backend-specific connection data (host, port, workdir...). JSON-serialisable and small. */
  details: Record<string, string | number>;
}

/** What a machine costs, for the cost meter (details.gpuCount, details.pricePerGpuHour when known). */
export function machineRate(m: MachineHandle): { gpuCount: number; pricePerGpuHour: number | null } {
  const g = Number(m.details.gpuCount ?? 0);
  const p = m.details.pricePerGpuHour;
  return {
    gpuCount: Number.isFinite(g) ? g : 0,
    pricePerGpuHour: typeof p === 'number' && Number.isFinite(p) ? p : null,
  };
}

/**
 * `lost`: the job's process or machine is confirmed gone (a preemption). `unreachable`: the backend could not
 * ask (ssh does not answer, the provider's API failed): the job may still run there, so the caller waits a
 * grace period (compute.lostGraceSec) before it counts the machine as lost.
 */
export interface JobStatus {
  state: 'running' | 'exited' | 'lost' | 'unreachable';
  exitCode?: number;
  /** Events in the complete lines after the poll's cursor. */
  events: TrainerEvent[];
  /** The next poll's cursor: a byte offset into the job's event stream (events.jsonl), 0 = its start. */
  nextCursor: number;
  /** Last lines of stderr, for error messages. */
  stderrTail?: string;
  /** Why the job is lost or unreachable, when the backend knows (e.g. the host does not answer). */
  lostReason?: string;
}

/** A machine held for an msm job, as the provider lists it. */
export interface JobMachine {
  jobId: string;
  machineId: string;
}

/** Whether launch found the job already running (a retry re-attached) or started it. */
export interface LaunchResult {
  attached: boolean;
}

export interface ComputeBackend {
  readonly name: string;
  /** The manifest, when given, lets a renting backend size the machine (e.g. its disk) for the job. */
  provision(jobId: string, manifest?: TrainerJobManifest): Promise<MachineHandle>;
  /** Start the job, or re-attach if a job with this id is already running on the machine. */
  launch(machine: MachineHandle, manifest: TrainerJobManifest): Promise<LaunchResult | void>;
  /**
   * A machine that cannot be reached reports 'unreachable', one confirmed gone (its process, or the provider
   * says the machine no longer exists) 'lost'; never an error for either.
   */
  poll(machine: MachineHandle, jobId: string, cursor: number): Promise<JobStatus>;
  cancel(machine: MachineHandle, jobId: string): Promise<void>;
  release(machine: MachineHandle): Promise<void>;
  /**
   * Rented backends: release every machine the provider holds for this job, found by the provider's own
   * records (not a handle), so cleanup works after the worker that provisioned it is gone. Returns how many.
   */
  releaseJob?(jobId: string): Promise<number>;
  /**
   * Rented backends: every machine the provider holds for msm jobs (any job, any worker), for the reaper.
   * Backends that rent nothing (local, ssh hosts) have none; their orphaned jobs stop themselves (the job
   * folder's watchdog).
   */
  listJobMachines?(): Promise<JobMachine[]>;
  /** A running job whose event stream falls silent this long (after its first event) is lost (a hung machine). */
  readonly stallMs?: number;
}

/** The machine cannot run the job as configured (no Python, missing packages, key refused): a person must act. */
export class ComputeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComputeConfigError';
  }
}

/** The provider cannot serve now (no machine of the requested kind, or a rate limit): try again after `retryAfterMs`. */
export class ComputeCapacityError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = 'ComputeCapacityError';
  }
}
