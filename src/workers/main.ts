import { NativeConnection } from '@temporalio/worker';
import { parseArgs } from 'node:util';
import { temporalTarget } from '../temporal/connection';
import { requireSearchAttributes } from '../temporal/search-attributes';
import { installConsoleLogger } from './console-logger';
import { ALL_QUEUES, createWorkers, runWorkers } from './create-workers';

/**
 * Worker process. By default it serves every queue (msm, msm-llm, msm-cpu, msm-gpu); `--queues msm-gpu`
 * runs one queue alone, e.g. on the machine that owns the GPUs. Where Temporal is: --address,
 * --namespace, --profile over Temporal's environment configuration (see src/temporal/connection.ts).
 */
async function main() {
  const { values } = parseArgs({
    options: {
      address: { type: 'string' },
      namespace: { type: 'string' },
      profile: { type: 'string' },
      queues: { type: 'string', default: ALL_QUEUES.join(',') },
    },
  });
  const target = temporalTarget({ address: values.address, namespace: values.namespace, profile: values.profile });
  installConsoleLogger(); // before the first connection creates the runtime
  const connection = await NativeConnection.connect(target.connectionOptions);
  await requireSearchAttributes(connection, target.namespace);
  const workers = await createWorkers({ connection, namespace: target.namespace, queues: values.queues.split(',').map((q) => q.trim()) });
  console.log(`msm worker ready on ${target.describe} (${values.queues})`);
  try {
    await runWorkers(workers);
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error && err.name !== 'Error' ? err.message : err);
  process.exit(1);
});
