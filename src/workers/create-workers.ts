import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import path from 'node:path';
import { createActivitiesByQueue } from '../activities';
import type { TrainerActivityDeps } from '../activities/trainer-activities';
import { WORKER_SLOTS, workerSlots, type SlotQueue } from '../config/worker-slots';
import { dataConverterOption } from '../temporal/payload-codec';
import { cachedBundleCode } from './bundle-cache';
import { deploymentFromEnv, deploymentOptions, promoteIfNoCurrent, type WorkerDeployment } from './deployment';

export const WORKFLOW_QUEUE = 'msm';
export const ACTIVITY_QUEUES = ['msm-llm', 'msm-cpu', 'msm-gpu', 'msm-cleanup'] as const;
/** Every worker that serves GPU work also serves cleanup: whoever can rent a machine can release it. */
const CLEANUP_QUEUE = 'msm-cleanup';
export const ALL_QUEUES = [WORKFLOW_QUEUE, ...ACTIVITY_QUEUES];

export const WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows', 'index.ts');
/** The same workflows, each declaring its versioning behaviour: for versioned workers only. */
export const VERSIONED_WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows', 'versioning.ts');

const bundles = new Map<string, Promise<WorkflowBundle>>();
/** Bundle the workflow code once per process (several workers and replays share it); see bundle-cache.ts. */
export function workflowBundle(workflowsPath = WORKFLOWS_PATH): Promise<WorkflowBundle> {
  const known = bundles.get(workflowsPath);
  if (known) return known;
  const make = async () => (await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger })).code;
  const bundle = cachedBundleCode(workflowsPath, make).then((code) => ({ code }));
  bundles.set(workflowsPath, bundle);
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

/** Slots per queue (src/config/worker-slots.ts); the local backend still runs one job at a time (local.ts). */
function slotsOf(queue: string): number | undefined {
  if (queue in WORKER_SLOTS) return workerSlots(queue as SlotQueue);
  return undefined;
}

/** The queues asked for, plus cleanup wherever GPU work is served. */
export function withCleanup(queues: readonly string[]): string[] {
  const all = [...queues];
  if (all.includes('msm-gpu') && !all.includes(CLEANUP_QUEUE)) all.push(CLEANUP_QUEUE);
  return all;
}

/**
 * How long a stopping worker lets its activities finish before it cancels them (MSM_SHUTDOWN_GRACE_SEC,
 * default 30 s). LLM and CPU steps usually end within it; a trainer job does not, and its activity then
 * detaches: the job keeps running on its machine and the next attempt, on any worker, re-attaches.
 */
export function shutdownGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MSM_SHUTDOWN_GRACE_SEC;
  const sec = raw === undefined || raw.trim() === '' ? 30 : Number(raw);
  if (!Number.isFinite(sec) || sec < 0)
    throw new Error(`MSM_SHUTDOWN_GRACE_SEC is '${raw}': seconds a stopping worker waits for its activities, e.g. 30`);
  return sec * 1000;
}

export interface WorkerSetOptions extends TrainerActivityDeps {
  connection: NativeConnection;
  namespace?: string;
  queues?: readonly string[];
  /** The Worker Deployment version these workers declare; default MSM_DEPLOYMENT_NAME's (unset: unversioned). */
  deployment?: WorkerDeployment | null;
  /** Default: shutdownGraceMs() (MSM_SHUTDOWN_GRACE_SEC). */
  shutdownGraceMs?: number;
}

/** What runWorkers needs to promote the workers' version once they poll. */
const versioned = new WeakMap<
  Worker,
  { connection: NativeConnection; namespace: string; deployment: WorkerDeployment }
>();

/** One worker per task queue in this process; each queue can also run alone in its own process. */
export async function createWorkers(opts: WorkerSetOptions): Promise<Worker[]> {
  const queues = withCleanup(opts.queues ?? ALL_QUEUES);
  const byQueue = createActivitiesByQueue(opts);
  const namespace = opts.namespace ?? 'default';
  const deployment = opts.deployment === undefined ? deploymentFromEnv() : (opts.deployment ?? undefined);
  // Activity workers declare the version too: a pinned workflow's activities go to its own build's workers.
  const common = {
    connection: opts.connection,
    namespace,
    // MSM_PAYLOAD_KEY set: every payload this worker writes to history is encrypted (docs/security.md).
    ...dataConverterOption(),
    shutdownGraceTime: opts.shutdownGraceMs ?? shutdownGraceMs(),
    ...(deployment && { workerDeploymentOptions: deploymentOptions(deployment) }),
  };
  const workers: Worker[] = [];
  for (const q of queues) {
    if (q === WORKFLOW_QUEUE) {
      const bundle = await workflowBundle(deployment ? VERSIONED_WORKFLOWS_PATH : WORKFLOWS_PATH);
      workers.push(await Worker.create({ ...common, taskQueue: q, workflowBundle: bundle }));
    } else if (q in byQueue) {
      workers.push(
        await Worker.create({
          ...common,
          taskQueue: q,
          activities: byQueue[q as keyof typeof byQueue],
          maxConcurrentActivityTaskExecutions: slotsOf(q),
        }),
      );
    } else {
      throw new Error(`unknown task queue "${q}"; use one or more of ${ALL_QUEUES.join(', ')}`);
    }
  }
  if (deployment) for (const w of workers) versioned.set(w, { connection: opts.connection, namespace, deployment });
  return workers;
}

/**
 * Run until every worker stops (SIGINT/SIGTERM shut them down gracefully). Versioned workers make their version
 * the deployment's current one when it has none (or `promote`, default MSM_PROMOTE=1); see docs/deploying.md.
 */
export async function runWorkers(workers: Worker[], opts: { promote?: boolean } = {}): Promise<void> {
  const running = Promise.all(workers.map((w) => w.run()));
  const v = workers.length ? versioned.get(workers[0]) : undefined;
  if (v) void promote(v, opts.promote ?? process.env.MSM_PROMOTE === '1');
  await running;
}

async function promote(
  v: { connection: NativeConnection; namespace: string; deployment: WorkerDeployment },
  force: boolean,
) {
  const { name, buildId } = v.deployment;
  try {
    const done = await promoteIfNoCurrent(v.connection, v.namespace, v.deployment, { force });
    if (done === 'promoted') console.log(`msm worker: ${name} version ${buildId} is now current`);
    if (done === 'left') {
      console.log(
        `msm worker: ${name} version ${buildId} is polling but not current, so it takes no new workflows yet; make it ` +
          `current with: temporal worker deployment set-current-version --deployment-name ${name} --build-id '${buildId}'`,
      );
    }
  } catch (e) {
    // The workers go on serving (e.g. workflows already on this version); only the promotion failed.
    console.warn(
      `msm worker: could not make ${name} version ${buildId} current: ${e instanceof Error ? e.message : e}`,
    );
  }
}
