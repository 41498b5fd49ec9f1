import { availableParallelism, tmpdir } from 'node:os';
import { defineConfig } from 'vitest/config';

// The fast lane (`npm run test:fast`): tests/unit/, the files that need no Temporal server, no trainer process,
// no sshd, no S3 server, no local model and no browser. tests/unit/fast-lane.test.ts checks from each file's
// imports that nothing there starts one (tests/helpers/lanes.ts).
export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // At least two files at a time (vitest's default is one fewer than the cores: one on a 2-core machine): much
    // of this lane's time is spent waiting on the CLI processes its files start, which a second file fills.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // The workers' allowlists (docs/security.md) as the tests need them: their scripted servers' key
    // variables, and the input files they write to the temporary folder.
    env: { MSM_ALLOWED_KEY_ENVS: 'MSM_TEST_*,SCRIPTED_*', MSM_DATA_DIR: tmpdir() },
    reporters: ['default'],
  },
});
