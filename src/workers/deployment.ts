import type { NativeConnection, WorkerDeploymentOptions } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GRPC, grpcCode } from '../temporal/grpc-status';

/**
 * Worker Deployment versioning (Temporal's Worker Versioning): a worker that belongs to a deployment declares
 * the version of the code it runs, so a roll-out never hands a running workflow's next task to code that would
 * replay it differently. Opt-in: the zero-config path (the demo, tests, `msm run` with in-process workers) runs
 * unversioned workers exactly as before; cluster workers set MSM_DEPLOYMENT_NAME (see docs/deploying.md).
 */
export interface WorkerDeployment {
  name: string;
  buildId: string;
}

const ROOT = path.join(__dirname, '..', '..');

/** `<package.json version>+<git short hash>`; MSM_BUILD_ID wins; outside a git checkout, the version alone. */
export function buildId(env: NodeJS.ProcessEnv = process.env, root = ROOT): string {
  if (env.MSM_BUILD_ID) return env.MSM_BUILD_ID;
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  try {
    const hash = execFileSync('git', ['rev-parse', '--short=10', 'HEAD'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    return hash ? `${version}+${hash}` : version;
  } catch {
    return version; // no git, or not a checkout (the Docker image): set MSM_BUILD_ID to tell images apart
  }
}

/** The deployment this process's workers belong to, or undefined for unversioned workers. */
export function deploymentFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerDeployment | undefined {
  const name = env.MSM_DEPLOYMENT_NAME?.trim();
  return name ? { name, buildId: buildId(env) } : undefined;
}

/**
 * Worker options for one deployment version. Every msm workflow type declares its own behaviour
 * (src/workflows/versioning.ts); the default only covers a type that forgot to, and PINNED is the one that can
 * never run a history on code that did not write it.
 */
export function deploymentOptions(d: WorkerDeployment): WorkerDeploymentOptions {
  return {
    version: { deploymentName: d.name, buildId: d.buildId },
    useWorkerVersioning: true,
    defaultVersioningBehavior: 'PINNED',
  };
}

/** The deployment's current version's build id; undefined while it has none (or the deployment is not known yet). */
export async function currentBuildId(
  connection: NativeConnection,
  namespace: string,
  name: string,
): Promise<string | undefined> {
  try {
    const res = await connection.workflowService.describeWorkerDeployment({ namespace, deploymentName: name });
    return res.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? undefined;
  } catch (e) {
    if (grpcCode(e) === GRPC.NOT_FOUND) return undefined;
    throw e;
  }
}

// temporal.api.enums.v1.RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS
const ROUTING_IN_PROGRESS = 1;

/**
 * Waits until the server has pushed the new current version to every task queue partition: until then a
 * partition may still hand an auto-upgrade workflow's next task to the old version.
 */
async function untilRoutingPropagated(connection: NativeConnection, namespace: string, name: string, deadline: number) {
  while (Date.now() < deadline) {
    const res = await connection.workflowService.describeWorkerDeployment({ namespace, deploymentName: name });
    if (Number(res.workerDeploymentInfo?.routingConfigUpdateState ?? 0) !== ROUTING_IN_PROGRESS) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface PromoteOptions {
  /** Make this version current even when another one is (a roll-out that needs no manual step). */
  force?: boolean;
  /** How long to wait for the server to see this version's pollers. */
  timeoutMs?: number;
}

/**
 * Makes this worker's version the deployment's current one when the deployment has none yet (its first
 * roll-out) or when forced. Otherwise a new version only takes new workflows once someone sets it current
 * (`temporal worker deployment set-current-version`), so a roll-out is an explicit step. Returns what it did.
 * Call it after the workers started polling: the server only knows a version once its pollers reached it.
 */
export async function promoteIfNoCurrent(
  connection: NativeConnection,
  namespace: string,
  d: WorkerDeployment,
  opts: PromoteOptions = {},
): Promise<'already-current' | 'promoted' | 'left'> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const current = await currentBuildId(connection, namespace, d.name);
    if (current === d.buildId) return 'already-current';
    if (current !== undefined && !opts.force) return 'left';
    try {
      await connection.workflowService.setWorkerDeploymentCurrentVersion({
        namespace,
        deploymentName: d.name,
        buildId: d.buildId,
        identity: `msm-worker ${d.buildId}`,
      });
      await untilRoutingPropagated(connection, namespace, d.name, deadline);
      return 'promoted';
    } catch (e) {
      // NOT_FOUND / FAILED_PRECONDITION: the version's pollers have not reached the server yet.
      const code = grpcCode(e);
      if ((code !== GRPC.NOT_FOUND && code !== GRPC.FAILED_PRECONDITION) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
