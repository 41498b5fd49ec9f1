import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { machineRate, type MachineHandle } from './backend';
import {
  ledgerUsage,
  type ComputeLedger,
  type ComputeUsage,
  type JobOwner,
  type MachineRecord,
} from '../cost/compute-usage';

export type { ComputeUsage, JobOwner } from '../cost/compute-usage';

/** Where the reaper finds a job's owner and ledger from the job id alone (a pod knows only its name). */
export const jobIndexKey = (jobId: string) => `compute/jobs/${jobId.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;

export interface JobIndexEntry extends JobOwner {
  ledgerKey: string;
}

/**
 * The cost meter and preemption record of one job, kept in the artifact store next to the run: every
 * attempt of the activity adds to the same record, and a run reused later still reports what it cost.
 * One activity attempt at a time writes it.
 */
export class LedgerFile {
  private ledger: ComputeLedger = { machines: [] };
  private current: MachineRecord | undefined;

  constructor(
    private readonly store: ArtifactStore,
    readonly key: string,
  ) {}

  static async load(store: ArtifactStore, key: string): Promise<LedgerFile> {
    const f = new LedgerFile(store, key);
    if (await store.exists(key)) f.ledger = await readJson<ComputeLedger>(store, key);
    return f;
  }

  usage(): ComputeUsage {
    return ledgerUsage(this.ledger);
  }

  get records(): readonly MachineRecord[] {
    return this.ledger.machines;
  }

  get owner(): JobOwner | undefined {
    return this.ledger.owner;
  }

  /**
   * Before anything is rented: which workflow runs this job, here and in the job index, so a machine left
   * behind by a crash at any later point can be traced to its workflow.
   */
  async owned(owner: JobOwner): Promise<void> {
    const index: JobIndexEntry = { ...owner, ledgerKey: this.key };
    await writeJson(this.store, jobIndexKey(owner.jobId), index);
    if (this.ledger.owner?.workflowId === owner.workflowId && this.ledger.owner.jobId === owner.jobId) return;
    this.ledger.owner = owner;
    await this.save();
  }

  /** A release failed: the machine may still bill, so say so where the cost meter and the reaper look. */
  async releaseFailed(error: string, machineId = this.current?.machineId): Promise<void> {
    const rec = [...this.ledger.machines].reverse().find((r) => r.machineId === machineId);
    if (!rec) return;
    rec.releaseFailed = { at: new Date().toISOString(), error: error.slice(0, 2000) };
    await this.save();
  }

  /** The reaper (or a later cleanup) released a machine that an earlier release could not. */
  async releasedLate(machineId: string): Promise<void> {
    const rec = [...this.ledger.machines].reverse().find((r) => r.machineId === machineId);
    if (!rec) return;
    rec.releasedAt ??= new Date().toISOString();
    delete rec.releaseFailed;
    await this.save();
  }

  /**
   * The machine provisioned for this attempt: the record of the same machine when an earlier attempt
   * still held it (a worker crash, then re-attach), else a new one billed from `startedAt`.
   */
  async opened(m: MachineHandle, startedAt: Date): Promise<void> {
    const now = new Date().toISOString();
    let rec = this.ledger.machines.find((r) => r.machineId === m.machineId && !r.releasedAt);
    if (!rec) {
      const { gpuCount, pricePerGpuHour } = machineRate(m);
      rec = {
        machineId: m.machineId,
        backend: m.backend,
        gpuCount,
        pricePerGpuHour,
        provisionedAt: startedAt.toISOString(),
        lastSeenAt: now,
      };
      this.ledger.machines.push(rec);
    }
    this.current = rec;
    await this.save();
  }

  /**
   * The job was launched: re-attached to the run an earlier attempt left there, or started. Started on a
   * machine where an earlier attempt had launched it, the job had died unseen (its worker was lost too):
   * that is a loss, dated when the machine was last seen.
   */
  async launched(attached: boolean): Promise<void> {
    const rec = this.current;
    if (!rec) return;
    const now = new Date().toISOString();
    if (!attached) {
      if (rec.launchedAt)
        this.addLoss(
          rec,
          rec.lastSeenAt,
          'the job had stopped when a new attempt reached the machine (its worker was lost as well)',
        );
      rec.launchedAt = rec.workSince = now;
    }
    rec.lastSeenAt = now;
    await this.save();
  }

  /** A checkpoint was seen complete: work up to now is saved. */
  async checkpointed(): Promise<void> {
    if (!this.current) return;
    this.current.workSince = this.current.lastSeenAt = new Date().toISOString();
    await this.save();
  }

  async seen(): Promise<void> {
    if (!this.current) return;
    this.current.lastSeenAt = new Date().toISOString();
    await this.save();
  }

  async lost(reason: string): Promise<void> {
    if (!this.current) return;
    this.current.lastSeenAt = new Date().toISOString();
    this.addLoss(this.current, this.current.lastSeenAt, reason);
    await this.save();
  }

  private addLoss(rec: MachineRecord, at: string, reason: string): void {
    const since = rec.workSince ?? rec.launchedAt ?? rec.provisionedAt;
    (rec.losses ??= []).push({ at, reason, workSince: since < at ? since : at });
  }

  async released(): Promise<void> {
    if (!this.current) return;
    this.current.releasedAt = this.current.lastSeenAt = new Date().toISOString();
    delete this.current.releaseFailed;
    await this.save();
  }

  private async save(): Promise<void> {
    await writeJson(this.store, this.key, this.ledger);
  }
}
