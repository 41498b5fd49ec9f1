import { defineConfig } from 'vitest/config';

// The real-cluster lane (npm run test:cluster): temporal-server built from Go on PostgreSQL. Its first run
// builds the server (minutes), hence the long hook timeout.
export default defineConfig({
  test: {
    include: ['tests/cluster/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 1_500_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
  },
});
