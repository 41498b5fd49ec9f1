import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkers, runWorkers } from '../../src/workers/create-workers';
import {
  buildId,
  currentBuildId,
  deploymentOptions,
  promoteIfNoCurrent,
  type WorkerDeployment,
} from '../../src/workers/deployment';
import * as versionedWorkflows from '../../src/workflows/versioning';
import { msmExperiment } from '../../src/workflows';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { goSignal, longAutoUpgrade, shortPinned } from '../helpers/versioning-workflows';
import { TestTemporalServer } from '../helpers/temporal-server';
import { WorkerProcess } from '../helpers/worker-process';

const Behavior = temporal.api.enums.v1.VersioningBehavior;

/** Where a workflow's versioning stands, as the server reports it. */
async function versioning(h: WorkflowHandle) {
  const info = (await h.describe()).raw.workflowExecutionInfo?.versioningInfo;
  return { behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
    const v = await f();
    if (v !== undefined) return v;
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('Worker Deployment versioning on a real Temporal dev server', () => {
  let server: TestTemporalServer;
  let connection: NativeConnection;
  let client: Client;
  const running: { worker: Worker; done: Promise<void> }[] = [];

  beforeAll(async () => {
    server = await TestTemporalServer.start();
    connection = await NativeConnection.connect({ address: server.address });
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  });
  afterAll(async () => {
    for (const r of running) r.worker.shutdown();
    await Promise.all(running.map((r) => r.done));
    await client?.connection.close();
    await connection?.close();
    await server?.down();
  });

  it('every msm workflow type declares its behaviour: the multi-day ones auto-upgrade, short children are pinned', () => {
    const { VERSIONING_BEHAVIOR } = versionedWorkflows;
    const types = Object.entries(versionedWorkflows).filter(([, v]) => typeof v === 'function');
    const declared = Object.fromEntries(
      types.map(([name, fn]) => [
        name,
        (fn as { workflowDefinitionOptions?: { versioningBehavior?: string } }).workflowDefinitionOptions
          ?.versioningBehavior,
      ]),
    );
    // toStrictEqual: a type that declares nothing (undefined) must fail, not pass as a missing key.
    expect(declared).toStrictEqual({ ...VERSIONING_BEHAVIOR });
    expect(VERSIONING_BEHAVIOR).toMatchObject({
      msmExperiment: 'AUTO_UPGRADE',
      msmSweep: 'AUTO_UPGRADE',
      reportRun: 'PINNED',
    });
  });

  it('build id: package version + git hash, MSM_BUILD_ID when set', () => {
    expect(buildId({})).toMatch(/^\d+\.\d+\.\d+\+[0-9a-f]{7,}$/);
    expect(buildId({ MSM_BUILD_ID: 'image-42' })).toBe('image-42');
    // Not a git checkout (the Docker image): the package version alone.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-nogit-'));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ version: '9.8.7' }));
    expect(buildId({}, dir)).toBe('9.8.7');
  });

  it("msm's workers declare one version on all five queues; the first version of a deployment becomes current", async () => {
    const deployment = { name: 'msm-first', buildId: buildId() };
    const workers = await createWorkers({ connection, deployment });
    const done = runWorkers(workers);
    running.push(...workers.map((worker) => ({ worker, done })));
    await until('the version to become current', async () =>
      (await currentBuildId(connection, 'default', deployment.name)) === deployment.buildId ? true : undefined,
    );
    // Each queue's pollers register it in the version on their first poll.
    const queues = await until('all five queues in the version', async () => {
      const v = await connection.workflowService.describeWorkerDeploymentVersion({
        namespace: 'default',
        deploymentVersion: { deploymentName: deployment.name, buildId: deployment.buildId },
      });
      const names = [...new Set(v.versionTaskQueues?.map((q) => q.name))].sort();
      return names.length === 5 ? names : undefined;
    });
    expect(queues).toEqual(['msm', 'msm-cleanup', 'msm-cpu', 'msm-gpu', 'msm-llm']);

    // An experiment runs on it, auto-upgrade as declared (bad input: it fails at once, after its first tasks).
    const { input } = scriptedExperiment('v-exp', 'http://127.0.0.1:9/v1');
    const h = await client.workflow.start(msmExperiment, {
      taskQueue: 'msm',
      workflowId: 'v-exp',
      args: [{ ...input, name: 'has spaces' }],
    });
    await expect(h.result()).rejects.toThrow();
    expect(await versioning(h)).toEqual({
      behavior: Behavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE,
      buildId: deployment.buildId,
    });
  });

  it('the worker process takes its deployment from MSM_DEPLOYMENT_NAME and, with MSM_PROMOTE=1, makes its build current', async () => {
    const env = { MSM_DEPLOYMENT_NAME: 'msm-first', MSM_BUILD_ID: 'rollout-2', MSM_PROMOTE: '1' };
    const proc = await WorkerProcess.start(server.address, env);
    try {
      expect(proc.log.join('')).toContain('deployment msm-first version rollout-2');
      // The worker logs it once the server took the version and its routing settled: within the 60 s it
      // gives itself on a loaded machine (its pollers must reach the server first).
      await until(
        'its log to say rollout-2 is current',
        async () => (proc.log.join('').includes('rollout-2 is now current') ? true : undefined),
        75_000,
      );
      expect(await currentBuildId(connection, 'default', 'msm-first')).toBe('rollout-2');
    } finally {
      await proc.kill('SIGTERM');
    }
  }, 150_000);

  /** A worker of `build` on queue `vtest` whose activity says which build ran it. */
  async function startBuild(build: string): Promise<WorkerDeployment> {
    const d = { name: 'vtest', buildId: build };
    const worker = await Worker.create({
      connection,
      taskQueue: 'vtest',
      workflowsPath: path.join(__dirname, '..', 'helpers', 'versioning-workflows.ts'),
      activities: { whichBuild: async () => build },
      workerDeploymentOptions: deploymentOptions(d),
    });
    running.push({ worker, done: worker.run() });
    return d;
  }

  it('after build B becomes current, the auto-upgrade workflow continues on B and the pinned one stays on A', async () => {
    const a = await startBuild('A');
    expect(await promoteIfNoCurrent(connection, 'default', a)).toBe('promoted');
    const opts = { taskQueue: 'vtest' };
    const auto = await client.workflow.start(longAutoUpgrade, { ...opts, workflowId: 'v-auto' });
    const pinned = await client.workflow.start(shortPinned, { ...opts, workflowId: 'v-pinned' });
    for (const h of [auto, pinned])
      await until('its first step on A', async () => ((await versioning(h)).buildId === 'A' ? true : undefined));
    expect(await versioning(auto)).toEqual({ behavior: Behavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE, buildId: 'A' });
    expect(await versioning(pinned)).toEqual({ behavior: Behavior.VERSIONING_BEHAVIOR_PINNED, buildId: 'A' });

    const b = await startBuild('B');
    // A is current: B polls but is left for an explicit roll-out step, unless forced.
    expect(await promoteIfNoCurrent(connection, 'default', b)).toBe('left');
    expect(await promoteIfNoCurrent(connection, 'default', b, { force: true })).toBe('promoted');
    expect(await currentBuildId(connection, 'default', 'vtest')).toBe('B');

    await auto.signal(goSignal);
    await pinned.signal(goSignal);
    expect(await auto.result()).toEqual(['A', 'B']);
    expect(await pinned.result()).toEqual(['A', 'A']);
    expect(await versioning(auto)).toMatchObject({ buildId: 'B' });
    expect(await versioning(pinned)).toMatchObject({ buildId: 'A' });

    // New workflows, pinned ones too, start on the current version.
    const fresh = await client.workflow.start(shortPinned, { ...opts, workflowId: 'v-fresh' });
    await fresh.signal(goSignal);
    expect(await fresh.result()).toEqual(['B', 'B']);
  });
});
