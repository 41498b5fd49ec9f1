import {
  CancellationScope,
  ParentClosePolicy,
  log,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { MSM_RELEASE_FAILED } from '../temporal/search-attribute-keys';

/**
 * After a run failed or was cancelled: release every machine the provider still holds for its job, on the
 * light cleanup queue (never behind a GPU job for a slot), retried. When it still fails, the run says so
 * (search attribute MsmReleaseFailed, its details, the ledger) and the reaper (msm reaper) takes over; the
 * run's own error is what it fails with either way.
 */
export async function releaseAfterFailure(release: () => Promise<number>): Promise<void> {
  try {
    await CancellationScope.nonCancellable(release);
  } catch (e) {
    const why = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    upsertSearchAttributes([{ key: MSM_RELEASE_FAILED, value: true }]);
    setCurrentDetails(
      `**release failed** — a machine of this run may still be running and billing: ${why}. ` +
        'The reaper (msm reaper) retries it; or release it in the provider console.',
    );
    log.error('releasing the machines of a failed run failed', { workflowId: workflowInfo().workflowId, why });
  }
}

/**
 * Children that rent machines (training and evaluation runs, and the experiments of a sweep) are cancelled,
 * not terminated, when their parent closes: terminating an experiment or a sweep (the Web UI's button) runs
 * no code of its own, but its children then run their cleanup and release their machines.
 */
export const CANCEL_ON_PARENT_CLOSE = { parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL } as const;
