import { tmpdir } from 'node:os';
import { defineConfig } from 'vitest/config';

// Integration tests share one real Temporal dev server and a 2-core machine: run files one at a time.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // The real-cluster lane has its own config and command: npm run test:cluster.
    exclude: ['tests/cluster/**', '**/node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    pool: 'forks',
    // The workers' allowlists (docs/security.md) as the tests need them: their scripted servers' key
    // variables, and the input files they write to the temporary folder.
    env: { MSM_ALLOWED_KEY_ENVS: 'MSM_TEST_*,SCRIPTED_*', MSM_DATA_DIR: tmpdir() },
    reporters: ['default'],
  },
});
