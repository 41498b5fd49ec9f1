import type { Experiment } from './experiment-schema';

/** One backend the reaper looks at, with the artifact store whose job index traces its machines to workflows. */
export interface ReaperTarget {
  /** The experiments' `store`, resolved (file:// or s3://). */
  storeUri: string;
  compute: Experiment['compute'];
}

/** What the reaper did with one machine of an msm job. */
export interface ReapOutcome {
  jobId: string;
  machineId: string;
  workflowId?: string;
  action: 'released' | 'kept' | 'unknown' | 'failed';
  reason: string;
}
