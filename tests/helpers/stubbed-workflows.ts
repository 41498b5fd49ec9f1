import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import path from 'node:path';
import { TestTemporalServer } from './temporal-server';

type ActivityQueue = 'msm-cpu' | 'msm-llm' | 'msm-gpu' | 'msm-cleanup';

/** Activity implementations per queue; a call to one not given fails the test's workflow at once, naming it. */
export type Stubs = Partial<Record<ActivityQueue, Record<string, (...args: never[]) => Promise<unknown>>>>;

export interface StubbedEnv {
  client: Client;
  /** Every activity call, in order: queue, name, first argument. */
  calls: Array<{ queue: string; name: string; arg: unknown }>;
  close(): Promise<void>;
}

const QUEUES: ActivityQueue[] = ['msm-cpu', 'msm-llm', 'msm-gpu', 'msm-cleanup'];
let bundle: ReturnType<typeof bundleWorkflowCode> | undefined;

/**
 * A real Temporal dev server and msm's real workflow code (tests/workflows/stub-children.ts) with stubbed
 * activities: a workflow's branches in seconds, with no trainer, model or LLM. `names` lists every
 * activity a queue may be asked for; those without a stub fail non-retryably.
 */
export async function startStubbedEnv(
  stubs: Stubs,
  names: Partial<Record<ActivityQueue, string[]>> = {},
): Promise<StubbedEnv> {
  const server = await TestTemporalServer.start();
  const connection = await NativeConnection.connect({ address: server.address });
  bundle ??= bundleWorkflowCode({
    workflowsPath: path.join(__dirname, '..', 'workflows', 'stub-children.ts'),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m) },
  });
  const calls: StubbedEnv['calls'] = [];
  const workers = [
    await Worker.create({ connection, taskQueue: 'msm', workflowBundle: await bundle }),
    ...(await Promise.all(
      QUEUES.map((queue) =>
        Worker.create({
          connection,
          taskQueue: queue,
          activities: recorded(queue, stubs[queue] ?? {}, names[queue] ?? [], calls),
        }),
      ),
    )),
  ];
  const running = Promise.all(workers.map((w) => w.run()));
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  return {
    client,
    calls,
    async close() {
      workers.forEach((w) => w.shutdown());
      await running;
      await connection.close();
      await client.connection.close();
      await server.down();
    },
  };
}

function recorded(
  queue: string,
  stubs: Record<string, (...args: never[]) => Promise<unknown>>,
  names: string[],
  calls: StubbedEnv['calls'],
): Record<string, (...args: unknown[]) => Promise<unknown>> {
  const all = [...new Set([...Object.keys(stubs), ...names])];
  return Object.fromEntries(
    all.map((name) => [
      name,
      async (...args: unknown[]) => {
        calls.push({ queue, name, arg: args[0] });
        const stub = stubs[name] as ((...a: unknown[]) => Promise<unknown>) | undefined;
        if (!stub) {
          const { ApplicationFailure } = await import('@temporalio/common');
          throw ApplicationFailure.nonRetryable(`no stub for ${queue} activity ${name}`, 'MissingStub');
        }
        return stub(...args);
      },
    ]),
  );
}
