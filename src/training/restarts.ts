import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';

/**
 * Bounded failure for trainer jobs. A job that *fails* (the trainer exits non-zero on its own) is restarted
 * at most `maxRestarts` times while no new checkpoint appears between failures; a failure after progress
 * starts the count again (SkyPilot's managed jobs draw the same line). Preemptions (a lost machine or
 * process) are not failures and never count.
 *
 * The count lives in the artifact store beside the job's ledger, not in memory or in heartbeat details:
 * it must survive the worker that saw the failure (a crash right after it), heartbeats are throttled so
 * the last one before a failure may never reach the server, and the checkpoints the count is measured
 * against live in the same store. It belongs to one workflow run: starting the run again (after a person
 * fixed the cause) gets a fresh count.
 */
export interface RestartRecord {
  /** The workflow run the count belongs to. */
  runId: string;
  /** Failures in a row without a new checkpoint between them. */
  failures: number;
  /** The newest checkpoint step seen when the last failure happened (-1: none). */
  checkpointStep: number;
  /** The last failure's own error. */
  lastError: string;
}

export const DEFAULT_MAX_RESTARTS = 2;

/** The record after one more failure: counted on when no newer checkpoint appeared, else counted from 1. */
export function afterFailure(
  prev: RestartRecord | undefined,
  runId: string,
  checkpointStep: number,
  error: string,
): RestartRecord {
  const sameStreak = prev !== undefined && prev.runId === runId && checkpointStep <= prev.checkpointStep;
  return { runId, failures: sameStreak ? prev.failures + 1 : 1, checkpointStep, lastError: error };
}

/** Whether the job has used up its restarts: the first failure plus `maxRestarts` restarts that failed too. */
export const restartsExhausted = (rec: RestartRecord, maxRestarts: number): boolean => rec.failures > maxRestarts;

/** The record of one job in the store (`<jobKey>/compute/restarts.json`). */
export class RestartFile {
  constructor(
    private readonly store: ArtifactStore,
    readonly key: string,
  ) {}

  static forJob = (store: ArtifactStore, jobKey: string) => new RestartFile(store, `${jobKey}/compute/restarts.json`);

  async read(): Promise<RestartRecord | undefined> {
    return (await this.store.exists(this.key)) ? readJson<RestartRecord>(this.store, this.key) : undefined;
  }

  /** Count one failure and save it before the attempt ends, so the next attempt (on any worker) sees it. */
  async failed(runId: string, checkpointStep: number, error: string): Promise<RestartRecord> {
    const rec = afterFailure(await this.read(), runId, checkpointStep, error);
    await writeJson(this.store, this.key, rec);
    return rec;
  }
}
