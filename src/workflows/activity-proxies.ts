import { proxyActivities } from '@temporalio/workflow';
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
export const gpu = proxyActivities<GpuActivities>({
  taskQueue: 'msm-gpu',
  startToCloseTimeout: '7d',
  heartbeatTimeout: '20s',
  retry: { ...retry, maximumInterval: '5m' },
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
