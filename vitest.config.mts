import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Files run one at a time: the integration and end-to-end lanes run real trainers, servers and workers on 2 cores.
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
    env: {
      MSM_ALLOWED_KEY_ENVS: 'MSM_TEST_*,SCRIPTED_*',
      MSM_DATA_DIR: tmpdir(),
      // Dozens of workers start on the same workflow code: bundle it once per content (src/workers/bundle-cache.ts).
      MSM_WORKFLOW_BUNDLE_CACHE: fileURLToPath(new URL('.msm/cache/workflow-bundles', import.meta.url)),
    },
    reporters: ['default'],
  },
});
