import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleCommand } from '../../src/cli/schedule-commands';
import type { ExperimentInput } from '../../src/config/experiment-schema';
import { sha256Hex } from '../../src/util/hash';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { createWorkers, runWorkers } from '../../src/workers/create-workers';
import { msmExperiment, msmSweep, progressQuery } from '../../src/workflows';
import { waitUntil } from '../helpers/scripted-experiment';
import { TestTemporalServer } from '../helpers/temporal-server';

/**
 * Inputs frozen at start, through the real CLI against a real Temporal server: `msm start` freezes the
 * files, then they change on the worker before it loads the run. Only the workflow and CPU queues have
 * workers, so a run that loads stops before any generation.
 */
describe('inputs frozen at start, on a real Temporal server', () => {
  let server: TestTemporalServer;
  let client: Client;

  beforeAll(async () => {
    server = await TestTemporalServer.start();
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  }, 60_000);

  afterAll(async () => {
    await client?.connection.close();
    await server?.down();
  });

  /** An experiment in a folder of its own (its baseDir), its store inside; generation never reached. */
  function project(name: string) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `msm-frozen-${name}-`));
    mkdirSync(path.join(dir, 'data'));
    copyFileSync(path.join(PROJECT_ROOT, 'specs/demo.md'), path.join(dir, 'spec.md'));
    copyFileSync(path.join(PROJECT_ROOT, 'experiments/data/demo-aft.jsonl'), path.join(dir, 'data/aft.jsonl'));
    copyFileSync(path.join(PROJECT_ROOT, 'experiments/data/demo-eval.jsonl'), path.join(dir, 'data/eval.jsonl'));
    const raw: ExperimentInput = {
      name,
      baseDir: dir,
      store: 'store',
      spec: 'spec.md',
      generation: { provider: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'never-called' } },
      aft: { data: 'data/aft.jsonl', minExamples: 1, minSteps: 1 },
      eval: { prompts: 'data/eval.jsonl' },
    };
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(raw));
    return { dir, file, spec: path.join(dir, 'spec.md') };
  }

  const msmStart = (file: string, id: string) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        path.join(PROJECT_ROOT, 'bin', 'msm'),
        ['start', file, '--id', id, '--address', server.address],
        { encoding: 'utf8', timeout: 120_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`msm start: ${stderr}`)) : resolve(stdout.trim())),
      ),
    );

  it('a file changed on the worker after msm start is refused; with its frozen bytes in the store the run uses those', async () => {
    const refused = project('refused');
    const frozenRun = project('frozen');
    const originalSpec = readFileSync(refused.spec, 'utf8');
    // Both started while no worker runs: nothing has been read on the worker yet.
    const ids = await Promise.all([msmStart(refused.file, 'frozen-refused'), msmStart(frozenRun.file, 'frozen-used')]);
    expect(ids).toEqual(['frozen-refused', 'frozen-used']);
    const input = (await client.workflow.getHandle('frozen-refused').fetchHistory()).events![0]
      .workflowExecutionStartedEventAttributes!.input!.payloads![0];
    const started = JSON.parse(Buffer.from(input.data!).toString('utf8')) as ExperimentInput;
    expect(started.frozenInputs!['spec.md'].sha256).toBe(sha256Hex(originalSpec));

    // On the worker, after msm start: both specs change; the first run's store never got its inputs
    // (as when msm start ran on another machine, with a store of its own).
    const changed = originalSpec.replace(/^# .*$/m, '# Changed after msm start');
    writeFileSync(refused.spec, changed);
    writeFileSync(frozenRun.spec, changed);
    rmSync(path.join(refused.dir, 'store'), { recursive: true });

    const connection = await NativeConnection.connect({ address: server.address });
    const workers = await createWorkers({ connection, queues: ['msm', 'msm-cpu'] });
    const running = runWorkers(workers);
    try {
      const err = await client.workflow
        .getHandle('frozen-refused')
        .result()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      let cause = (err as WorkflowFailedError).cause;
      while (cause && !(cause instanceof ApplicationFailure)) cause = cause.cause as Error | undefined;
      expect(cause).toMatchObject({ type: 'BadInput', nonRetryable: true });
      expect(cause!.message).toContain(`spec: ${refused.spec} changed after it was frozen at start`);
      expect(cause!.message).toContain(`recorded sha256 ${sha256Hex(originalSpec)}`);
      expect(cause!.message).toContain(`now has sha256 ${sha256Hex(changed)}`);
      expect(cause!.message).toContain('Start the run again');

      // The other run loads the spec as it was at msm start, not the changed file.
      const used = client.workflow.getHandle<typeof msmExperiment>('frozen-used');
      let title: string | undefined;
      await waitUntil(
        async () => (title = (await used.query(progressQuery)).spec?.title) !== undefined,
        30_000,
        'the frozen run to load',
      );
      expect(title).toBe(originalSpec.match(/^# (.*)$/m)![1]);
      await used.terminate('test: loading was all it had to show');
    } finally {
      workers.forEach((w) => w.shutdown());
      await running;
      await connection.close();
    }
  }, 120_000);

  it('a sweep started with paths only (temporal workflow start) freezes once: a point that starts later reads those bytes', async () => {
    const p = project('sweep');
    const specB = path.join(p.dir, 'spec-b.md');
    writeFileSync(specB, readFileSync(p.spec, 'utf8').replace(/^# .*$/m, '# Spec B as started'));
    const raw = JSON.parse(readFileSync(p.file, 'utf8')) as ExperimentInput;
    const sweep = client.workflow.getHandle('frozen-sweep');
    await client.workflow.start(msmSweep, {
      taskQueue: 'msm',
      workflowId: sweep.workflowId,
      args: [
        { name: 'fsw', base: raw, axes: { spec: ['spec.md', 'spec-b.md'] }, include: [], exclude: [], concurrency: 1 },
      ],
    });
    const connection = await NativeConnection.connect({ address: server.address });
    const workers = await createWorkers({ connection, queues: ['msm', 'msm-cpu'] });
    const running = runWorkers(workers);
    const titleOf = async (id: string) =>
      (
        await client.workflow
          .getHandle(id)
          .query(progressQuery)
          .catch(() => undefined)
      )?.spec?.title;
    try {
      // The first point loads, then waits for generation (no LLM worker here); the second has not started.
      await waitUntil(async () => (await titleOf('frozen-sweep.spec.md')) !== undefined, 30_000, 'point 1 to load');
      writeFileSync(specB, readFileSync(p.spec, 'utf8').replace(/^# .*$/m, '# Spec B changed later'));
      await client.workflow.getHandle('frozen-sweep.spec.md').terminate('test: make way for point 2');
      let title: string | undefined;
      await waitUntil(async () => (title = await titleOf('frozen-sweep.spec-b.md')) !== undefined, 30_000, 'point 2');
      expect(title).toBe('Spec B as started');
      const history = await sweep.fetchHistory();
      const activities = history.events!.flatMap(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [],
      );
      expect(activities).toEqual(['freezeSweepInputs']);
      await sweep.terminate('test: done');
    } finally {
      workers.forEach((w) => w.shutdown());
      await running;
      await connection.close();
    }
  }, 120_000);

  it("a schedule's action holds the frozen hashes; msm schedule update freezes the files as they are then", async () => {
    const p = project('scheduled');
    const specHashOfAction = async () => {
      const d = await client.schedule.getHandle('frozen-schedule').describe();
      const x = (d.action as { args: ExperimentInput[] }).args[0];
      return x.frozenInputs!['spec.md'].sha256;
    };
    await scheduleCommand(client, ['create', 'frozen-schedule', p.file], { every: '24h', paused: true });
    expect(await specHashOfAction()).toBe(sha256Hex(readFileSync(p.spec, 'utf8')));
    const updated = readFileSync(p.spec, 'utf8') + '\n## Added for the next runs\n\n- A new rule.\n';
    writeFileSync(p.spec, updated);
    expect(await specHashOfAction()).not.toBe(sha256Hex(updated)); // a changed file does not change the schedule
    await scheduleCommand(client, ['update', 'frozen-schedule', p.file], {});
    expect(await specHashOfAction()).toBe(sha256Hex(updated));
    await scheduleCommand(client, ['delete', 'frozen-schedule'], {});
  }, 60_000);
});
