/**
 * The cost meter's arithmetic (pure: workflows import it for progress totals). A job's ledger lists every
 * machine it held from provision to release; see ledger.ts for how it is kept.
 */
export interface MachineRecord {
  machineId: string;
  backend: string;
  gpuCount: number;
  /** USD per GPU-hour; null where nothing is rented (local, a plain ssh host). */
  pricePerGpuHour: number | null;
  /** When provisioning started (a rented machine is billed from its creation). */
  provisionedAt: string;
  /** Last time a worker saw it: the end of the bill when a crashed worker never released it. */
  lastSeenAt: string;
  releasedAt?: string;
  /** When the job last started (not re-attached) on this machine. */
  launchedAt?: string;
  /** The later of that start and the newest checkpoint seen complete: later work is not saved yet. */
  workSince?: string;
  /** Each time the job on this machine was lost (preemptions). */
  losses?: MachineLoss[];
  /** The last release that failed (the machine may still run and bill): cleanup, then the reaper, retry it. */
  releaseFailed?: { at: string; error: string };
}

export interface MachineLoss {
  /** When the loss was detected. */
  at: string;
  reason: string;
  /** Work after this moment was lost: the later of the job's start and its newest checkpoint. */
  workSince: string;
}

export interface ComputeLedger {
  machines: MachineRecord[];
  /** The job and the workflow that runs it: how the reaper tells a live job from a leaked machine. */
  owner?: JobOwner;
}

export interface JobOwner {
  jobId: string;
  workflowId: string;
}

export interface ComputeUsage {
  machines: number;
  machineHours: number;
  gpuHours: number;
  /** Null when no machine had a price (nothing rented). */
  costUsd: number | null;
  preemptions: number;
  /** GPU-hours of work that had to be redone: Σ over losses of (loss − workSince) × GPUs. */
  gpuHoursLost: number;
  machineHoursLost: number;
}

export const GPU_TIME_LOST_DEFINITION =
  'GPU time lost = for each preempted machine, its GPUs × the time from the later of the job launch on it and the newest checkpoint seen complete, to the moment the loss was detected: the work a resume from that checkpoint repeats (boot and waiting are in the cost, not in the loss)';

const hours = (from: string, to: string) => Math.max(0, Date.parse(to) - Date.parse(from)) / 3_600_000;

export function ledgerUsage(ledger: ComputeLedger): ComputeUsage {
  let machineHours = 0;
  let gpuHours = 0;
  let cost = 0;
  let priced = false;
  let machineHoursLost = 0;
  let gpuHoursLost = 0;
  for (const m of ledger.machines) {
    const h = hours(m.provisionedAt, m.releasedAt ?? m.lastSeenAt);
    machineHours += h;
    gpuHours += h * m.gpuCount;
    if (m.pricePerGpuHour !== null) {
      priced = true;
      cost += h * m.gpuCount * m.pricePerGpuHour;
    }
    for (const loss of m.losses ?? []) {
      const l = hours(loss.workSince, loss.at);
      machineHoursLost += l;
      gpuHoursLost += l * m.gpuCount;
    }
  }
  return {
    machines: ledger.machines.length,
    machineHours,
    gpuHours,
    costUsd: priced ? cost : null,
    preemptions: ledger.machines.reduce((n, m) => n + (m.losses?.length ?? 0), 0),
    gpuHoursLost,
    machineHoursLost,
  };
}

/** Sum of several runs' usage (an experiment's total). */
export function sumUsage(all: readonly ComputeUsage[]): ComputeUsage {
  const priced = all.filter((u) => u.costUsd !== null);
  return {
    machines: all.reduce((s, u) => s + u.machines, 0),
    machineHours: all.reduce((s, u) => s + u.machineHours, 0),
    gpuHours: all.reduce((s, u) => s + u.gpuHours, 0),
    costUsd: priced.length ? priced.reduce((s, u) => s + u.costUsd!, 0) : null,
    preemptions: all.reduce((s, u) => s + u.preemptions, 0),
    gpuHoursLost: all.reduce((s, u) => s + u.gpuHoursLost, 0),
    machineHoursLost: all.reduce((s, u) => s + u.machineHoursLost, 0),
  };
}
