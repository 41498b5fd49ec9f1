import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import path from 'node:path';
import { createActivitiesByQueue } from '../activities';
import type { TrainerActivityDeps } from '../activities/trainer-activities';

export const WORKFLOW_QUEUE = 'msm';
export const ACTIVITY_QUEUES = ['msm-llm', 'msm-cpu', 'msm-gpu'] as const;
export const ALL_QUEUES = [WORKFLOW_QUEUE, ...ACTIVITY_QUEUES];

export const WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows', 'index.ts');

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundle the workflow code once per process (several workers and replays share it). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}

const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(m: string) {
    console.warn(m);
  },
  error(m: string) {
    console.error(m);
  },
};

/** Slots per queue: one GPU job per machine by default; LLM calls are I/O bound. */
const SLOTS: Record<string, number> = {
  'msm-gpu': Number(process.env.MSM_GPU_SLOTS ?? 1),
  'msm-llm': Number(process.env.MSM_LLM_SLOTS ?? 8),
  'msm-cpu': Number(process.env.MSM_CPU_SLOTS ?? 2),
};

export interface WorkerSetOptions extends TrainerActivityDeps {
  connection: NativeConnection;
  namespace?: string;
  queues?: readonly string[];
}

/** One worker per task queue in this process; each queue can also run alone in its own process. */
export async function createWorkers(opts: WorkerSetOptions): Promise<Worker[]> {
  const queues = opts.queues ?? ALL_QUEUES;
  const byQueue = createActivitiesByQueue(opts);
  const namespace = opts.namespace ?? 'default';
  const workers: Worker[] = [];
  for (const q of queues) {
    if (q === WORKFLOW_QUEUE) {
      workers.push(await Worker.create({ connection: opts.connection, namespace, taskQueue: q, workflowBundle: await workflowBundle() }));
    } else if (q in byQueue) {
      workers.push(
        await Worker.create({
          connection: opts.connection,
          namespace,
          taskQueue: q,
          activities: byQueue[q as keyof typeof byQueue],
          maxConcurrentActivityTaskExecutions: SLOTS[q],
        }),
      );
    } else {
      throw new Error(`unknown task queue "${q}"; use one or more of ${ALL_QUEUES.join(', ')}`);
    }
  }
  return workers;
}

/** Run until every worker stops (SIGINT/SIGTERM shut them down gracefully). */
export async function runWorkers(workers: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.run()));
}
