import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import path from 'node:path';
import { TestTemporalServer } from './temporal-server';
import { workflowBundle } from '../../src/workers/create-workers';

type ActivityQueue = 'msm-cpu' | 'msm-llm' | 'msm-gpu' | 'msm-cleanup';

/**
 * Activity implementations per queue; a call to one not given fails the test's workflow at once, naming it.
 * Looked up at each call, so a test may swap one (for names registered at start) between its cases.
 */
export type Stubs = Partial<Record<ActivityQueue, Record<string, (...args: never[]) => Promise<unknown>>>>;

export interface StubbedEnv {
  client: Client;
  /** Every activity call, in order: queue, name, first argument, and every argument. */
  calls: Array<{ queue: string; name: string; arg: unknown; args: unknown[] }>;
  /** Clears `calls` and starts `workflow` on the msm queue under `workflowId`. */
  start<T extends Workflow>(workflow: T, workflowId: string, ...args: Parameters<T>): Promise<WorkflowHandle<T>>;
  /** How many runs (continue-as-new included) the workflow id has had, as visibility lists them. */
  runsOf(workflowId: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * Which workflow code the worker runs: 'stubbed-children' (tests/workflows/stub-children.ts: msm's own
 * workflows with the data-generating children answering at once) or 'msm' (src/workflows/index.ts, as
 * deployed: for the corpus and AFT data workflows themselves).
 */
export type WorkflowCode = 'stubbed-children' | 'msm';

const QUEUES: ActivityQueue[] = ['msm-cpu', 'msm-llm', 'msm-gpu', 'msm-cleanup'];
const ENTRY: Record<WorkflowCode, string> = {
  'stubbed-children': path.join(__dirname, '..', 'workflows', 'stub-children.ts'),
  msm: path.join(__dirname, '..', '..', 'src', 'workflows', 'index.ts'),
};

/**
 * A real Temporal dev server and msm's real workflow code with stubbed activities: a workflow's branches
 * in seconds, with no trainer, model or LLM. `names` lists every activity a queue may be asked for (or
 * that a test swaps in later); those without a stub fail non-retryably.
 */
export async function startStubbedEnv(
  stubs: Stubs,
  names: Partial<Record<ActivityQueue, string[]>> = {},
  code: WorkflowCode = 'stubbed-children',
): Promise<StubbedEnv> {
  const server = await TestTemporalServer.start();
  const connection = await NativeConnection.connect({ address: server.address });
  // Bundled once per process, and once per content across files (MSM_WORKFLOW_BUNDLE_CACHE).
  const bundle = workflowBundle(ENTRY[code]);
  const calls: StubbedEnv['calls'] = [];
  const workers = [
    await Worker.create({ connection, taskQueue: 'msm', workflowBundle: await bundle }),
    ...(await Promise.all(
      // A queue with no activity named gets no worker (a worker needs something to poll for).
      QUEUES.filter((q) => Object.keys((stubs[q] ??= {})).length + (names[q]?.length ?? 0) > 0).map((queue) =>
        Worker.create({
          connection,
          taskQueue: queue,
          activities: recorded(queue, stubs[queue]!, names[queue] ?? [], calls),
          // Heartbeats reach the server (and a cancel reaches the activity) within this, not 80% of the
          // proxies' heartbeat timeout: a cancelled stub stops in well under a second.
          maxHeartbeatThrottleInterval: '200ms',
        }),
      ),
    )),
  ];
  const running = Promise.all(workers.map((w) => w.run()));
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  return {
    client,
    calls,
    async start(workflow, workflowId, ...args) {
      calls.length = 0;
      return client.workflow.start(workflow, { taskQueue: 'msm', workflowId, args } as never) as never;
    },
    async runsOf(workflowId) {
      let n = 0;
      for await (const _ of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
      return n;
    },
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
        calls.push({ queue, name, arg: args[0], args });
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

/** The first argument of every recorded call of `name`, in call order. */
export const argsOf = <T>(calls: StubbedEnv['calls'], name: string): T[] =>
  calls.filter((c) => c.name === name).map((c) => c.arg as T);

/** The names of the recorded calls, in order. */
export const namesOf = (calls: StubbedEnv['calls']): string[] => calls.map((c) => c.name);

export async function waitFor(
  pred: () => boolean | Promise<boolean>,
  what = 'a condition',
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A running job: heartbeats until the activity is cancelled, then ends cancelled (as the real ones do). */
export async function untilCancelled(onCancel?: () => void): Promise<never> {
  const { Context } = await import('@temporalio/activity');
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    try {
      await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 100))]);
    } catch (e) {
      onCancel?.();
      throw e;
    }
  }
}

/**
 * Activities that wait until the test lets them go: `wait(key)` inside a stub (heartbeating, so a cancel
 * still reaches it), `open(key)` from the test; `waiting` lists the keys held now.
 */
export function gates() {
  const opened = new Set<string>();
  const waiting: string[] = [];
  return {
    waiting,
    open: (...keys: string[]) => keys.forEach((k) => opened.add(k)),
    async wait(key: string): Promise<void> {
      const { Context } = await import('@temporalio/activity');
      const ctx = Context.current();
      waiting.push(key);
      try {
        while (!opened.has(key)) {
          ctx.heartbeat();
          await Promise.race([ctx.cancelled, new Promise((r) => setTimeout(r, 50))]);
        }
      } finally {
        waiting.splice(waiting.indexOf(key), 1);
      }
    },
  };
}

/** An error a job really throws: retried by the workflow's retry policy unless `nonRetryable`. */
export async function jobError(message: string, type: string, nonRetryable = false): Promise<Error> {
  const { ApplicationFailure } = await import('@temporalio/common');
  return ApplicationFailure.create({ message, type, nonRetryable });
}

/** Every message down a failure's cause chain, joined: what a person reads of a failed run. */
export const failureText = (e: unknown): string =>
  e instanceof Error ? [e.message, failureText((e as { cause?: unknown }).cause)].filter(Boolean).join(' / ') : '';
