import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComputeBackend, MachineHandle } from '../../src/compute/backend';
import { createLocalBackend } from '../../src/compute/local';
import { DEFAULT_TRAINER_DIR } from '../../src/compute/trainer-bundle';
import { pythonExecutable } from '../../src/util/project-paths';
import { environOf, pidOf, sessionMembers, trainerOf, trainersOf } from '../helpers/job-processes';
import { tinyTrainManifest, writeTinyDataset } from '../helpers/tiny-trainer-job';

/** The local backend runs the same job-folder protocol as ssh (tests/integration/compute-ssh.test.ts), through `sh` here. */
describe('local compute backend', () => {
  let root: string;
  let dataUri: string;
  let backend: ComputeBackend;
  let machine: MachineHandle;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'msm-local-test-'));
    dataUri = (await writeTinyDataset(path.join(root, 'data'))).manifestUri;
    backend = createLocalBackend({
      workDir: path.join(root, 'work'),
      python: pythonExecutable(),
      env: { MSM_TORCH_THREADS: '1' },
      cancelGraceMs: 3000,
    });
    machine = await backend.provision('local');
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('launches once, re-attaches, passes the environment, and cancel stops the whole process group', async () => {
    const m = tinyTrainManifest(root, dataUri, 'twice', { maxSteps: 100_000, epochs: 100_000 });
    await Promise.all([backend.launch(machine, m), backend.launch(machine, m)]);
    const pid = pidOf(machine, m.jobId);
    const trainer = await trainerOf(machine, m.jobId);
    await backend.launch(machine, m);
    await new Promise((r) => setTimeout(r, 500)); // room for a second trainer to show up, if one was started
    expect(pidOf(machine, m.jobId)).toBe(pid);
    expect(trainersOf(machine, m.jobId)).toEqual([trainer]);
    expect(environOf(trainer)).toMatchObject({ MSM_TORCH_THREADS: '1', PYTHONUNBUFFERED: '1' });
    expect(environOf(trainer).PYTHONPATH.split(':')[0]).toBe(DEFAULT_TRAINER_DIR);
    expect((await backend.poll(machine, m.jobId, 0)).state).toBe('running');

    await backend.cancel(machine, m.jobId);
    expect(sessionMembers(pid)).toEqual([]);
    expect((await backend.poll(machine, m.jobId, 0)).state).toBe('lost');
  });

  it('reports bad input as exit 2 with its error event and stderr', async () => {
    const m = tinyTrainManifest(root, pathToFileURL(path.join(root, 'missing', 'manifest.json')).href, 'bad');
    await backend.launch(machine, m);
    let st = await backend.poll(machine, m.jobId, 0);
    for (let i = 0; st.state === 'running' && i < 300; i++) {
      await new Promise((r) => setTimeout(r, 100));
      st = await backend.poll(machine, m.jobId, 0);
    }
    expect(st).toMatchObject({ state: 'exited', exitCode: 2 });
    expect(st.events).toEqual([
      expect.objectContaining({ event: 'error', retryable: false, message: expect.stringContaining('does not exist') }),
    ]);
    expect(st.stderrTail).toContain('bad input');
  });
});
