import { upsertSearchAttributes } from '@temporalio/workflow';
import type { TrainRequest, TrainResult } from '../activities/types';
import { gpu } from './activity-proxies';
import { MSM_STAGE } from './search-attributes';

/**
 * One training run (midtraining, or one AFT cell) as its own workflow so the Web UI shows it, its retries
 * and preemptions separately. The activity re-attaches to a live job or resumes from a checkpoint.
 */
export async function trainingRun(req: TrainRequest): Promise<TrainResult> {
  upsertSearchAttributes([{ key: MSM_STAGE, value: req.kind }]);
  return gpu.runTraining(req);
}
