import { createAftDataActivities } from './aft-data-activities';
import { createCalibrationActivities } from './calibration-activities';
import { createContaminationActivities } from './contamination-activities';
import { createCorpusActivities } from './corpus-activities';
import { createEvalActivities } from './eval-activities';
import { createExperimentActivities } from './experiment-activities';
import { createReportActivities } from './report-activities';
import { createSweepActivities } from './sweep-activities';
import { createTokenizeActivities } from './tokenize-activities';
import { createCleanupActivities, createTrainerActivities, type TrainerActivityDeps } from './trainer-activities';

/** Activities grouped by the task queue that runs them, so each queue can scale out on its own. */
export function createActivitiesByQueue(deps: TrainerActivityDeps = {}) {
  const trainer = createTrainerActivities(deps);
  return {
    'msm-cpu': {
      ...createExperimentActivities(),
      ...createTokenizeActivities(),
      ...createContaminationActivities(),
      ...createReportActivities(),
      ...createSweepActivities(),
    },
    'msm-llm': {
      ...createCorpusActivities(),
      ...createAftDataActivities(),
      ...createEvalActivities(),
      ...createCalibrationActivities(),
    },
    'msm-gpu': trainer,
    // Releasing machines never waits behind a GPU job for a slot: its own light queue, same backends.
    'msm-cleanup': createCleanupActivities(trainer, deps),
  };
}

export type CpuActivities = ReturnType<typeof createActivitiesByQueue>['msm-cpu'];
export type LlmActivities = ReturnType<typeof createActivitiesByQueue>['msm-llm'];
export type GpuActivities = ReturnType<typeof createActivitiesByQueue>['msm-gpu'];
export type CleanupActivities = ReturnType<typeof createActivitiesByQueue>['msm-cleanup'];
