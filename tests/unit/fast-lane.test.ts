import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { filesOutsideLanes, importsOf, laneFiles, lanes, SLOW_HELPERS, SLOW_IMPORTS } from '../helpers/lanes';

// Lanes are folders (tests/helpers/lanes.ts). These checks keep them honest: nothing in tests/unit starts a
// server, a worker, a trainer or a browser; nothing that could be a unit test hides in a slower lane; and the
// names the import rule relies on still exist (a stale one would let a slow file into the fast lane).
const root = PROJECT_ROOT;
const read = (f: string) => readFileSync(path.join(root, f), 'utf8');

describe('test lanes', () => {
  it('names only helpers and functions that exist', () => {
    for (const helper of Object.keys(SLOW_HELPERS)) {
      expect(existsSync(path.join(root, 'tests', 'helpers', `${helper}.ts`)), `tests/helpers/${helper}.ts`).toBe(true);
    }
    for (const [module, names] of Object.entries(SLOW_IMPORTS)) {
      const source = read(`${module}.ts`);
      for (const name of Object.keys(names))
        expect(source, `${module}.ts exports ${name}`).toMatch(
          new RegExp(`export (const|(async )?function) ${name}\\b`),
        );
    }
  });

  it('lists each slow helper because it starts something (or loads one that does)', () => {
    // What starting a server, worker, process or browser looks like in a helper's source.
    const starts =
      /\b(spawn|spawnSync|execFile|execFileSync|fork|Worker\.create|TestWorkflowEnvironment\.\w+|createServer|launch|startDevServer)\b\s*\(|promisify\((exec|execFile)\)/;
    const trainerHelper = 'tiny-trainer-job'; // listed for what its users do with it: run the real trainer
    for (const helper of Object.keys(SLOW_HELPERS).filter((h) => h !== trainerHelper)) {
      const file = `tests/helpers/${helper}.ts`;
      const loadsAnother = importsOf(root, file).some((i) => SLOW_HELPERS[i.module.replace('tests/helpers/', '')]);
      expect(starts.test(read(file)) || loadsAnother, `${file} starts nothing`).toBe(true);
    }
    // Each user of the tiny trainer job runs the trainer: through trainer activities, a backend, or Python.
    for (const [file] of [...lanes(root)].filter(([f]) =>
      importsOf(root, f).some((i) => i.module.endsWith(trainerHelper)),
    )) {
      expect(read(file), `${file} imports ${trainerHelper} but runs no trainer`).toMatch(
        /createTrainerActivities|createLocalBackend|pythonExecutable|in-process-workers|sshd|runpod/,
      );
    }
  });

  it('every test file is in a lane folder', () => {
    expect(filesOutsideLanes(root)).toEqual([]);
    expect(laneFiles(root, 'unit').length).toBeGreaterThan(40);
  });

  it('tests/unit starts nothing: no server, worker, trainer, sshd, S3, local model or browser', () => {
    const reasons = lanes(root);
    const slow = laneFiles(root, 'unit')
      .map((f) => [f, reasons.get(f)])
      .filter(([, reason]) => reason !== undefined);
    expect(slow).toEqual([]);
  });

  it('the slower lanes hold only files that start something (a pure file belongs in tests/unit)', () => {
    // History replay bundles the workflow code and replays it in a worker: it belongs with the workflow tests.
    const pureOnPurpose = new Set(['tests/workflows/replay.test.ts']);
    const reasons = lanes(root);
    const misplaced = (['workflows', 'integration', 'e2e'] as const)
      .flatMap((lane) => laneFiles(root, lane))
      .filter((f) => !pureOnPurpose.has(f) && reasons.get(f) === undefined);
    expect(misplaced).toEqual([]);
  });

  it('reads imports, not words: a comment or a string naming a helper does not make a file slow', () => {
    const reasons = lanes(root);
    // plan.test.ts mentions trainer/msm_trainer in a comment and runs nothing.
    expect(read('tests/unit/plan.test.ts')).toMatch(/msm_trainer/);
    expect(reasons.get('tests/unit/plan.test.ts')).toBeUndefined();
    expect(reasons.get('tests/e2e/aft-data.test.ts')).toMatch(/in-process-workers/);
    expect(reasons.get('tests/integration/store.test.ts')).toMatch(/seaweedfs/);
  });
});
