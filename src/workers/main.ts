import { NativeConnection } from '@temporalio/worker';
import { parseArgs } from 'node:util';
import { temporalTarget } from '../temporal/connection';
import { requireSearchAttributes } from '../temporal/search-attributes';
import { installConsoleLogger } from './console-logger';
import { ALL_QUEUES, createWorkers, runWorkers } from './create-workers';
import { buildId } from './deployment';

/**
 * Worker process. By default it serves every queue (msm, msm-llm, msm-cpu, msm-gpu); `--queues msm-gpu`
 * runs one queue alone, e.g. on the machine that owns the GPUs. Where Temporal is: --address,
 * --namespace, --profile over Temporal's environment configuration (see src/temporal/connection.ts).
 * Worker Versioning (docs/deploying.md): --deployment NAME (or MSM_DEPLOYMENT_NAME) makes the workers declare
 * version NAME/<build id>; --promote (or MSM_PROMOTE=1) makes that version current at start.
 */
async function main() {
  const { values } = parseArgs({
    options: {
      address: { type: 'string' },
      namespace: { type: 'string' },
      profile: { type: 'string' },
      queues: { type: 'string', default: ALL_QUEUES.join(',') },
      deployment: { type: 'string', default: process.env.MSM_DEPLOYMENT_NAME ?? '' },
      promote: { type: 'boolean', default: process.env.MSM_PROMOTE === '1' },
    },
  });
  const deployment = values.deployment.trim() ? { name: values.deployment.trim(), buildId: buildId() } : null;
  const target = temporalTarget({ address: values.address, namespace: values.namespace, profile: values.profile });
  installConsoleLogger(); // before the first connection creates the runtime
  const connection = await NativeConnection.connect(target.connectionOptions);
  await requireSearchAttributes(connection, target.namespace);
  const queues = values.queues.split(',').map((q) => q.trim());
  const workers = await createWorkers({ connection, namespace: target.namespace, queues, deployment });
  const version = deployment ? `, deployment ${deployment.name} version ${deployment.buildId}` : ', unversioned';
  console.log(`msm worker ready on ${target.describe} (${values.queues}${version})`);
  try {
    await runWorkers(workers, { promote: values.promote });
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error && err.name !== 'Error' ? err.message : err);
  process.exit(1);
});
