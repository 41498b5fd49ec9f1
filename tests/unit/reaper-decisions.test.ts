import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ComputeBackend, JobMachine } from '../../src/compute/backend';
import { LedgerFile } from '../../src/compute/ledger';
import { reapLeakedMachines } from '../../src/compute/reaper';
import type { ComputeLedger } from '../../src/cost/compute-usage';
import type { ArtifactStore } from '../../src/store/artifact-store';
import { readJson, writeJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';

/**
 * The reaper's decisions per machine, on a real file store, against a provider that lists machines and
 * releases them by job (the RunPod path end to end is tests/integration/reaper.test.ts).
 */
let root: string;
let store: ArtifactStore;
let machines: JobMachine[];
let released: string[];
let refuse: boolean;

const provider = (): ComputeBackend =>
  ({
    name: 'listing-provider',
    listJobMachines: async () => machines,
    releaseJob: async (jobId: string) => {
      if (refuse) throw new Error('provider API: HTTP 503');
      released.push(jobId);
      return 1;
    },
  }) as unknown as ComputeBackend;

/** A job whose workflow is `workflowId`, its machine `m-<job>` released `releasedMinutesAgo` ago (or never). */
async function job(jobId: string, workflowId: string, releasedMinutesAgo?: number): Promise<string> {
  const key = `runs/${jobId}/compute/ledger.json`;
  const ledger = await LedgerFile.load(store, key);
  await ledger.owned({ jobId, workflowId });
  const l = await readJson<ComputeLedger>(store, key);
  const at = (min: number) => new Date(Date.now() - min * 60_000).toISOString();
  l.machines.push({
    machineId: `m-${jobId}`,
    backend: 'listing-provider',
    gpuCount: 1,
    pricePerGpuHour: 2,
    provisionedAt: at(60),
    lastSeenAt: at(releasedMinutesAgo ?? 1),
    ...(releasedMinutesAgo !== undefined ? { releasedAt: at(releasedMinutesAgo) } : {}),
  });
  await writeJson(store, key, l);
  machines.push({ jobId, machineId: `m-${jobId}` });
  return key;
}

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'msm-reaper-unit-'));
  store = openStore(pathToFileURL(root).href);
  machines = [];
  released = [];
  refuse = false;
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('reaper decisions', () => {
  it('releases what the ledger says was released (after a grace) even while its workflow runs', async () => {
    await job('old-release', 'wf-running', 30);
    await job('fresh-release', 'wf-running', 1);
    await job('in-use', 'wf-running');
    await job('orphan', 'wf-gone');
    machines.push({ jobId: 'stranger', machineId: 'm-x' });
    const out = await reapLeakedMachines(provider(), store, { workflowRunning: async (id) => id === 'wf-running' });
    const action = Object.fromEntries(out.map((o) => [o.jobId, o.action]));
    expect(action).toEqual({
      'old-release': 'released',
      'fresh-release': 'kept',
      'in-use': 'kept',
      orphan: 'released',
      stranger: 'unknown',
    });
    expect(released.sort()).toEqual(['old-release', 'orphan']);
    const orphan = await readJson<ComputeLedger>(store, 'runs/orphan/compute/ledger.json');
    expect(orphan.machines[0].releasedAt).toBeDefined();
  });

  it('records a release that fails in the ledger and reports it; the next pass tries again', async () => {
    const key = await job('orphan', 'wf-gone');
    refuse = true;
    const [first] = await reapLeakedMachines(provider(), store, { workflowRunning: async () => false });
    expect(first).toMatchObject({ action: 'failed', reason: expect.stringMatching(/HTTP 503/) });
    const l = await readJson<ComputeLedger>(store, key);
    expect(l.machines[0].releaseFailed?.error).toMatch(/reaper: provider API: HTTP 503/);
    expect(l.machines[0].releasedAt).toBeUndefined();
    refuse = false;
    const [second] = await reapLeakedMachines(provider(), store, { workflowRunning: async () => false });
    expect(second.action).toBe('released');
    expect((await readJson<ComputeLedger>(store, key)).machines[0].releaseFailed).toBeUndefined();
  });
});
