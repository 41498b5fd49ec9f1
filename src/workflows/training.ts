import { upsertSearchAttributes } from '@temporalio/workflow';
import type { TrainRequest, TrainResult } from '../training/types';
import { cleanup, gpuStoppedOnCancel } from './activity-proxies';
import { releaseAfterFailure } from './machine-cleanup';
import { MSM_STAGE } from '../temporal/search-attribute-keys';

/**
 * One training run (midtraining, or one AFT cell) as its own workflow so the Web UI shows it, its retries
 * and preemptions separately. The activity re-attaches to a live job or resumes from a checkpoint.
 */
export async function trainingRun(req: TrainRequest): Promise<TrainResult> {
  upsertSearchAttributes([{ key: MSM_STAGE, value: req.kind }]);
  try {
    return await gpuStoppedOnCancel.runTraining(req);
  } catch (e) {
    // No rented machine outlives the run: a cancelled activity may not have reached its own release (its
    // worker gone, or the cancel not yet delivered), so release by job id, whatever cancels this workflow.
    // Its own failure (e.g. the provider's key is gone) must not hide why the run failed.
    await releaseAfterFailure(() => cleanup.releaseTrainingMachines(req));
    throw e;
  }
}
