import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TrainerActivityDeps } from '../../src/activities/trainer-activities';
import { createWorkers, runWorkers } from '../../src/workers/create-workers';
import { TestTemporalServer } from './temporal-server';

export interface TemporalTestEnv {
  server: TestTemporalServer;
  client: Client;
  close(): Promise<void>;
}

/**
 * A real Temporal dev server with this project's workers running in the test process (so a test can
 * hand them an instrumented backend) and a client. `close` shuts down workers, connections and server.
 */
export async function startTemporalWithWorkers(deps: TrainerActivityDeps = {}): Promise<TemporalTestEnv> {
  const server = await TestTemporalServer.start();
  const connection = await NativeConnection.connect({ address: server.address });
  const workers = await createWorkers({ connection, ...deps });
  const running = runWorkers(workers);
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  return {
    server,
    client,
    async close() {
      workers.forEach((w) => w.shutdown());
      await running;
      await connection.close();
      await client.connection.close();
      await server.down();
    },
  };
}
