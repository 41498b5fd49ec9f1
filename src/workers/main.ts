import { NativeConnection } from '@temporalio/worker';
import { parseArgs } from 'node:util';
import { installConsoleLogger } from './console-logger';
import { ALL_QUEUES, createWorkers, runWorkers } from './create-workers';

/**
 * Worker process. By default it serves every queue (msm, msm-llm, msm-cpu, msm-gpu); `--queues msm-gpu`
 * runs one queue alone, e.g. on the machine that owns the GPUs.
 */
async function main() {
  const { values } = parseArgs({
    options: {
      address: { type: 'string', default: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' },
      namespace: { type: 'string', default: process.env.TEMPORAL_NAMESPACE ?? 'default' },
      queues: { type: 'string', default: ALL_QUEUES.join(',') },
    },
  });
  installConsoleLogger(); // before the first connection creates the runtime
  const connection = await NativeConnection.connect({ address: values.address });
  const workers = await createWorkers({ connection, namespace: values.namespace, queues: values.queues.split(',').map((q) => q.trim()) });
  console.log(`msm worker ready on ${values.address} (${values.queues})`);
  try {
    await runWorkers(workers);
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
