import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/util/project-paths';

/** `msm <args>` as a real process from the project root (the CLI's own entry point, through tsx). */
export const runMsm = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(
    path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'),
    [path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), ...args],
    {
      encoding: 'utf8',
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
    },
  );
