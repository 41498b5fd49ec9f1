import type { Client } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvalRequest, TrainRequest } from '../src/activities/types';
import type { Results } from '../src/report/results';
import { msmExperiment, progressQuery } from '../src/workflows';
import { ARMS, armsExperiment, armsRespond } from './helpers/arms-experiment';
import { startTemporalWithWorkers, type TemporalTestEnv } from './helpers/in-process-workers';
import { startScriptedLlmServer } from './helpers/scripted-llm-server';

/** Child workflows started by a history, with their first argument decoded. */
function childStarts<T>(
  events: Array<{
    startChildWorkflowExecutionInitiatedEventAttributes?: {
      workflowId?: string | null;
      workflowType?: { name?: string | null } | null;
      input?: { payloads?: Array<{ data?: Uint8Array | null }> | null } | null;
    } | null;
  }>,
  type: string,
): Map<string, T> {
  return new Map(
    events
      .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)
      .filter((a) => a?.workflowType?.name === type)
      .map((a) => [a!.workflowId!, JSON.parse(Buffer.from(a!.input!.payloads![0].data!).toString('utf8')) as T]),
  );
}

/** Every kind of arm through the whole experiment workflow on a real Temporal server and the real trainer. */
describe('an experiment with arms base / msm-only / baseline / msm / deliberative / spec-in-context', () => {
  let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
  let env: TemporalTestEnv;
  let client: Client;
  beforeAll(async () => {
    llm = await startScriptedLlmServer({ respond: armsRespond });
    env = await startTemporalWithWorkers();
    client = env.client;
  });
  afterAll(async () => {
    await env?.close();
    await llm?.close();
  });

  it('trains each distinct model once, evaluates the controls once, and the report draws every arm', async () => {
    const { input } = armsExperiment('arms', llm.baseUrl);
    const wf = 'arms-e2e';
    const handle = await client.workflow.start(msmExperiment, { taskQueue: 'msm', workflowId: wf, args: [input] });
    const out = await handle.result();
    const aft = ['baseline', 'msm', 'deliberative', 'spec-in-context'].flatMap((a) => [`${a}-1of1-s0`, `${a}-1of2-s0`]);
    expect(out.cells.map((c) => c.id).sort()).toEqual(aft.sort());
    expect(out.controls.map((c) => c.id)).toEqual(['base-s0', 'msm-only-s0']);

    const events = (await handle.fetchHistory()).events!;
    const trains = childStarts<TrainRequest>(events, 'trainingRun');
    // spec-in-context trains what baseline trains: it shares baseline's runs (and their ids and keys).
    expect([...trains.keys()].sort()).toEqual(
      [
        `${wf}.midtrain`,
        ...['baseline', 'msm', 'deliberative'].flatMap((a) => [`${wf}.aft-${a}-1of1-s0`, `${wf}.aft-${a}-1of2-s0`]),
      ].sort(),
    );
    const run = (id: string) => trains.get(`${wf}.aft-${id}`)!;
    // deliberative: from the base model, on the with-reasoning file; baseline and msm on the answers only.
    expect(run('deliberative-1of1-s0').initFrom).toBeUndefined();
    expect(run('deliberative-1of1-s0').data.sha256).not.toBe(run('baseline-1of1-s0').data.sha256);
    expect(run('msm-1of1-s0').data.sha256).toBe(run('baseline-1of1-s0').data.sha256);
    expect(run('msm-1of1-s0').initFrom?.outputUri).toBeTruthy();

    const evals = childStarts<EvalRequest>(events, 'evaluationRun');
    expect(evals.size).toBe(aft.length + 2);
    expect(evals.get(`${wf}.eval-base-s0`)!.modelUri).toBeNull(); // the base model itself
    expect(evals.get(`${wf}.eval-msm-only-s0`)!.modelUri).toBe(run('msm-1of1-s0').initFrom!.outputUri);
    expect(evals.get(`${wf}.eval-spec-in-context-1of2-s0`)!.systemPrompt?.key).toMatch(/^inputs\/spec-/);
    expect(evals.get(`${wf}.eval-baseline-1of2-s0`)!.systemPrompt).toBeUndefined();
    expect(evals.get(`${wf}.eval-spec-in-context-1of2-s0`)!.modelUri).toBe(
      evals.get(`${wf}.eval-baseline-1of2-s0`)!.modelUri,
    );
    // The same model with the spec as system prompt: its own samples, under its own eval key.
    expect(out.cells.length).toBe(8);
    // The cost meter (and compute.budgetUsd) counts every GPU job: each training run's and each evaluation's.
    expect((await handle.query(progressQuery)).compute?.machines).toBe(trains.size + evals.size);

    const results = JSON.parse(readFileSync(fileURLToPath(out.report.resultsUri), 'utf8')) as Results;
    expect(results.arms.map((a) => a.name)).toEqual(ARMS);
    expect(results.curves.map((c) => c.arm)).toEqual(['baseline', 'msm', 'deliberative', 'spec-in-context']);
    expect(results.controls.map((c) => [c.id, c.modelUri === null, c.misalignment.n])).toEqual([
      ['base-s0', true, 8],
      ['msm-only-s0', false, 8],
    ]);
    expect(results.controls[0].startsFrom).toMatch(/^base model/);
    expect(results.controls[1].startsFrom).toBe(results.lineage.midtrain!.checkpoint);

    const dir = path.dirname(fileURLToPath(out.report.resultsUri));
    const svg = readFileSync(path.join(dir, 'plot.svg'), 'utf8');
    for (const arm of ['baseline', 'msm', 'deliberative', 'spec-in-context'])
      expect(svg).toContain(`class="arm-line" data-arm="${arm}"`);
    for (const arm of ['base', 'msm-only'])
      expect(svg).toMatch(new RegExp(`<line class="control" data-arm="${arm}"[^>]*y1="([\\d.]+)" y2="\\1"`));
    const md = readFileSync(path.join(dir, 'report.md'), 'utf8');
    expect(md).toMatch(/\| base \| none \(control\) \| 1 \(eval seed 0\) \| \d+\/8 \|/);
    expect(md).toMatch(/\| msm-only \| none \(control\) \| 1 \(eval seed 0\) \| \d+\/8 \|/);
    expect(md).toContain('| deliberative | base | with-reasoning |');
  }, 900_000);
});
