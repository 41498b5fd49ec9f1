import type { ReaperTarget, ReapOutcome } from '../config/reaper-target';
import type { ComputeLedger, MachineRecord } from '../cost/compute-usage';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import type { ComputeBackend } from './backend';
import { jobIndexKey, LedgerFile, type JobIndexEntry } from './ledger';

export type { ReaperTarget, ReapOutcome };

/**
 * The reaper: the backstop for every way a machine can outlive its job's workflow (a terminated workflow
 * runs no cleanup; a worker killed mid-provision; a release that kept failing). It lists the backend's
 * machines of msm jobs, traces each to its workflow through the store's job index (written before
 * anything is rented, see LedgerFile.owned), and releases those whose workflow is no longer running or
 * whose ledger already says released. A machine of a job this store does not know is left alone and
 * reported: it may belong to another project.
 */
export interface ReaperDeps {
  /** Whether the workflow is open: Temporal's word, asked by the activity. */
  workflowRunning(workflowId: string): Promise<boolean>;
  /** Called after each machine (the activity heartbeats). */
  beat?(done: number): void;
}

const RELEASED_GRACE_MS = 10 * 60_000;

/** The newest record of this machine in the job's ledger. */
const newestRecord = (ledger: ComputeLedger, machineId: string): MachineRecord | undefined =>
  [...ledger.machines].reverse().find((r) => r.machineId === machineId);

/** Why a machine must go, or null when its workflow may still use it. */
async function leakReason(
  entry: JobIndexEntry,
  ledger: ComputeLedger | undefined,
  machineId: string,
  deps: ReaperDeps,
): Promise<string | null> {
  const rec = ledger && newestRecord(ledger, machineId);
  // A grace, so a retry that is taking the same pod back (found by name) is not raced.
  if (rec?.releasedAt && Date.now() - Date.parse(rec.releasedAt) > RELEASED_GRACE_MS)
    return `its ledger says it was released at ${rec.releasedAt}`;
  if (!(await deps.workflowRunning(entry.workflowId))) return `its workflow ${entry.workflowId} is not running`;
  return null;
}

async function readIndex(store: ArtifactStore, jobId: string): Promise<JobIndexEntry | undefined> {
  const key = jobIndexKey(jobId);
  return (await store.exists(key)) ? readJson<JobIndexEntry>(store, key) : undefined;
}

/** One pass: decide and release each machine; one machine's failure does not stop the others. */
export async function reapLeakedMachines(
  backend: ComputeBackend,
  store: ArtifactStore,
  deps: ReaperDeps,
): Promise<ReapOutcome[]> {
  if (!backend.listJobMachines || !backend.releaseJob) return [];
  const outcomes: ReapOutcome[] = [];
  for (const { jobId, machineId } of await backend.listJobMachines()) {
    outcomes.push(await reapOne(backend, store, jobId, machineId, deps));
    deps.beat?.(outcomes.length);
  }
  return outcomes;
}

async function reapOne(
  backend: ComputeBackend,
  store: ArtifactStore,
  jobId: string,
  machineId: string,
  deps: ReaperDeps,
): Promise<ReapOutcome> {
  const entry = await readIndex(store, jobId);
  if (!entry) return { jobId, machineId, action: 'unknown', reason: `no job ${jobId} in this store: left alone` };
  const ledger = await LedgerFile.load(store, entry.ledgerKey);
  const raw: ComputeLedger = { machines: [...ledger.records] };
  const why = await leakReason(entry, raw, machineId, deps);
  const base = { jobId, machineId, workflowId: entry.workflowId };
  if (!why) return { ...base, action: 'kept', reason: `its workflow ${entry.workflowId} is running` };
  try {
    await backend.releaseJob!(jobId);
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    await ledger.releaseFailed(`reaper: ${error}`, machineId).catch(() => undefined);
    return { ...base, action: 'failed', reason: `${why}; release failed: ${error}` };
  }
  await ledger.releasedLate(machineId).catch(() => undefined);
  return { ...base, action: 'released', reason: why };
}
