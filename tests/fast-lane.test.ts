import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/util/project-paths';
import { fastFiles, importsOf, lanes, SLOW_HELPERS, SLOW_IMPORTS } from './helpers/lanes';

// The fast lane is chosen by tests/helpers/lanes.ts from each test file's imports. These checks keep
// that rule honest: a name in it that no longer exists would quietly move tests between lanes.
const root = PROJECT_ROOT;
const read = (f: string) => readFileSync(path.join(root, f), 'utf8');

describe('the fast lane', () => {
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

  it('holds the pure test files and none that starts a server', () => {
    const fast = fastFiles(root);
    // Pure planning and configuration tests: once left out because a regex matched a helper's name.
    for (const f of [
      'tests/plan.test.ts',
      'tests/aft-subsets.test.ts',
      'tests/config.test.ts',
      'tests/fast-lane.test.ts',
    ]) {
      expect(fast).toContain(f);
    }
    for (const f of fast) {
      expect(read(f), `${f} is in the fast lane`).not.toMatch(
        /helpers\/(temporal-server|in-process-workers|sshd|seaweedfs|chromium)'/,
      );
    }
    for (const f of [
      'tests/temporal-connection.test.ts',
      'tests/store.test.ts',
      'tests/llm-local.test.ts',
      'tests/megatron.test.ts',
    ]) {
      expect(fast).not.toContain(f);
    }
  });

  it('reads imports, not words: a comment or a string naming a helper does not make a file slow', () => {
    const reasons = lanes(root);
    // plan.test.ts mentions trainer/msm_trainer in a comment; compose.test.ts names MSM_PYTHON in a string.
    expect(read('tests/plan.test.ts')).toMatch(/msm_trainer/);
    expect(reasons.get('tests/plan.test.ts')).toBeUndefined();
    expect(reasons.get('tests/aft-data.test.ts')).toMatch(/in-process-workers/);
  });
});
