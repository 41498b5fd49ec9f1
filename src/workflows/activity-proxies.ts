import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { CleanupActivities, CpuActivities, GpuActivities, LlmActivities } from '../activities';

/** Bad input is never retried; everything else retries with backoff (Retry-After overrides the delay). */
const retry = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '2m',
  nonRetryableErrorTypes: ['BadInput'],
};

export const cpu = proxyActivities<CpuActivities>({
  taskQueue: 'msm-cpu',
  startToCloseTimeout: '2h',
  heartbeatTimeout: '1m',
  retry,
});

export const llm = proxyActivities<LlmActivities>({
  taskQueue: 'msm-llm',
  startToCloseTimeout: '12h',
  // Provider calls heartbeat while in flight, so a dead worker is noticed within this timeout.
  heartbeatTimeout: '20s',
  retry,
});

/** GPU jobs run for days; heartbeats carry progress and a dead worker or machine is noticed in seconds. */
const gpuOptions = {
  taskQueue: 'msm-gpu',
  startToCloseTimeout: '7d',
  heartbeatTimeout: '20s',
  retry: { ...retry, maximumInterval: '5m' },
} as const;
export const gpu = proxyActivities<GpuActivities>(gpuOptions);

/**
 * The same, but a cancelled run waits until its activity has stopped the job (or timed out) before it goes
 * on to its cleanup: releasing the machine under a job that is still being stopped would turn the cancel
 * into a "lost machine" and leave the stop undone where release does not end the job (e.g. an ssh host).
 */
export const gpuStoppedOnCancel = proxyActivities<GpuActivities>({
  ...gpuOptions,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

/**
 * Releasing machines and reaping: short calls on a queue of their own, so they never wait behind GPU jobs
 * for a slot. Retried for about half an hour; after that the run reports the failure and the reaper retries.
 */
export const cleanup = proxyActivities<CleanupActivities>({
  taskQueue: 'msm-cleanup',
  startToCloseTimeout: '10m',
  heartbeatTimeout: '2m',
  retry: { ...retry, maximumInterval: '5m', maximumAttempts: 12 },
});
