/**
 * Activities a worker runs at once, per task queue: a default, or the variable that overrides it. A GPU activity
 * only orchestrates (it polls a job on its machine), so one worker drives many remote jobs; LLM calls are I/O
 * bound; cleanup calls are short. The experiment's concurrency settings are capped by these on each worker.
 */
export const WORKER_SLOTS = {
  'msm-gpu': { variable: 'MSM_GPU_SLOTS', fallback: 16 },
  'msm-llm': { variable: 'MSM_LLM_SLOTS', fallback: 8 },
  'msm-cpu': { variable: 'MSM_CPU_SLOTS', fallback: 2 },
  'msm-cleanup': { variable: 'MSM_CLEANUP_SLOTS', fallback: 32 },
} as const;

export type SlotQueue = keyof typeof WORKER_SLOTS;

/** The slots of a queue on a worker with this environment; a bad value names its variable. */
export function workerSlots(queue: SlotQueue, env: NodeJS.ProcessEnv = process.env): number {
  const { variable, fallback } = WORKER_SLOTS[queue];
  const raw = env[variable];
  const n = Number(raw ?? fallback);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`${variable} must be a whole number >= 1, got "${raw}"`);
  return n;
}
