import { MockActivityEnvironment } from '@temporalio/testing';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { ComputeBackend } from '../../src/compute/backend';
import { createLocalBackend } from '../../src/compute/local';
import type { ComputeLedger } from '../../src/cost/compute-usage';
import { parseExperiment } from '../../src/config/experiment-schema';
import { pythonExecutable } from '../../src/util/project-paths';
import { trainerOf } from '../helpers/job-processes';
import { waitUntil } from '../helpers/scripted-experiment';
import { TINY_MODEL, writeTinyDataset, midtrainRequest } from '../helpers/tiny-trainer-job';
import { alive } from '../helpers/process-alive';

/**
 * "No events for too long" is a preemption too: a hung trainer (here SIGSTOPped, as on a machine that
 * froze) is stopped and the loss is recorded in the run's ledger. Real local backend and trainer.
 */
const root = mkdtempSync(path.join(os.tmpdir(), 'msm-stall-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a silent job', () => {
  it('is treated as lost after stallMs: the job is stopped and the preemption recorded', async () => {
    const workDir = path.join(root, 'compute');
    const local = createLocalBackend({
      workDir,
      python: pythonExecutable(),
      env: { MSM_TORCH_THREADS: '1' },
      cancelGraceMs: 500,
    });
    const backend: ComputeBackend = { ...local, name: 'local', stallMs: 3000 };
    const activities = createTrainerActivities({ backend, stateDir: path.join(root, 'state') });
    const data = await writeTinyDataset(path.join(root, 'data'));
    const x = parseExperiment({
      name: 'stall-test',
      spec: 'specs/demo.md',
      aft: { data: 'unused.jsonl' },
      eval: { prompts: 'unused.jsonl' },
      baseModel: TINY_MODEL,
      compute: { backend: 'local', device: 'cpu' },
      midtrain: {
        loraR: 4,
        loraAlpha: 8,
        batchSize: 4,
        epochs: 100_000,
        maxSteps: 1_000_000,
        checkpointEverySteps: 1000,
      },
    });
    const store = path.join(root, 'store');
    const req = midtrainRequest(store, 'stall', data, x);

    const env = new MockActivityEnvironment();
    const run = env.run(activities.runTraining, req).then(
      () => undefined,
      (e: unknown) => e,
    );
    const jobs = path.join(workDir, 'jobs');
    let dir = '';
    await waitUntil(
      () => {
        dir = existsSync(jobs) ? (readdirSync(jobs).find((d) => d.startsWith('runs_stall-')) ?? '') : '';
        return (
          !!dir &&
          existsSync(path.join(jobs, dir, 'events.jsonl')) &&
          readFileSync(path.join(jobs, dir, 'events.jsonl'), 'utf8').includes('"progress"')
        );
      },
      60_000,
      'the job to make progress',
    );
    const trainer = await trainerOf({ backend: 'local', machineId: 'local', details: { workDir } }, dir);
    process.kill(trainer, 'SIGSTOP');
    const stoppedAt = Date.now();

    const err = await run;
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(2500);
    expect(String((err as Error).message)).toMatch(/was lost \(no events for \d+ s\): preemption/);
    await waitUntil(() => !alive(trainer), 15_000, 'the stopped trainer to be killed');

    const runDir = readdirSync(path.join(store, 'runs')).find((d) => d.startsWith('stall-'))!;
    const ledger = JSON.parse(
      readFileSync(path.join(store, 'runs', runDir, 'compute', 'ledger.json'), 'utf8'),
    ) as ComputeLedger;
    expect(ledger.machines).toHaveLength(1);
    expect(ledger.machines[0].losses?.map((l) => l.reason)).toEqual([expect.stringMatching(/^no events for \d+ s$/)]);
    expect(ledger.machines[0].releasedAt).toBeDefined();
  }, 90_000);
});
