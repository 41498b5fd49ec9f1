import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { defineConfig } from 'vitest/config';

// The fast lane (`npm run test:fast`): every test file that needs no Temporal server, no trainer process,
// no sshd, no S3 server, no local model and no browser. A file is left out when its source names one of the helpers or
// programs below, so a new test lands in the right lane without a list to keep up to date.
const NEEDS_A_SERVER_OR_PROCESS = [
  /helpers\/(in-process-workers|scripted-temporal|temporal-server|worker-process|sshd|seaweedfs)/,
  /helpers\/(job-processes|tiny-trainer-job|report-in-browser|chromium|arms-experiment|tls-proxy)/,
  /MSM_PYTHON|msm_trainer/,
  /ensureLocalModel/, // loads the local GGUF model: tens of seconds, more under load
];

const testsDir = path.join(__dirname, 'tests');
const fastFiles = readdirSync(testsDir)
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => {
    const source = readFileSync(path.join(testsDir, f), 'utf8');
    return !NEEDS_A_SERVER_OR_PROCESS.some((re) => re.test(source));
  })
  .map((f) => `tests/${f}`);

export default defineConfig({
  test: {
    include: fastFiles,
    testTimeout: 60_000,
    pool: 'forks',
    // The workers' allowlists (docs/security.md) as the tests need them: their scripted servers' key
    // variables, and the input files they write to the temporary folder.
    env: { MSM_ALLOWED_KEY_ENVS: 'MSM_TEST_*,SCRIPTED_*', MSM_DATA_DIR: tmpdir() },
    reporters: ['default'],
  },
});
