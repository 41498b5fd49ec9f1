import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainRequest } from '../../src/training/types';
import { msmExperiment, pauseSignal, progressQuery, resumeSignal, setConcurrencyUpdate } from '../../src/workflows';
import { argsOf, failureText, gates, startStubbedEnv, waitFor, type StubbedEnv } from '../helpers/stubbed-workflows';
import { experiment, EXPERIMENT_NAMES, experimentStubs } from './stub-experiment';

/**
 * msmExperiment's run controls (pause / resume signals, the setConcurrency update) on a real Temporal
 * server with stubbed activities: a pause holds the next stage and the next cell, running work finishes,
 * resume goes on; the update changes how many cells run at once and refuses bad values. The sweep's and
 * the generation workflows' own controls are in sweep.test.ts, corpus.test.ts and aft-data.test.ts.
 */
describe('run controls of msmExperiment with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  const gate = gates();
  const held = new Set<string>();

  beforeAll(async () => {
    const stubs = experimentStubs();
    const train = stubs['msm-gpu'].runTraining;
    stubs['msm-gpu'].runTraining = async (req: TrainRequest) => {
      if (held.has(req.label)) await gate.wait(req.label);
      return train(req);
    };
    env = await startStubbedEnv(stubs, EXPERIMENT_NAMES);
  });
  afterAll(async () => env?.close());

  const trained = () =>
    argsOf<TrainRequest>(env.calls, 'runTraining')
      .map((t) => t.label)
      .sort();

  it('paused from the start: nothing is loaded until resume, then the experiment runs to the end', async () => {
    env.calls.length = 0;
    const input = experiment({ aft: { ...experiment().aft, arms: ['baseline'], fractions: [1], seeds: [0] } });
    const h = await env.client.workflow.signalWithStart(msmExperiment, {
      taskQueue: 'msm',
      workflowId: 'controls-paused-at-start',
      args: [input],
      signal: pauseSignal,
    });
    await waitFor(async () => (await h.query(progressQuery)).paused, 'the pause');
    await new Promise((r) => setTimeout(r, 500));
    expect(env.calls).toEqual([]);
    expect((await h.query(progressQuery)).stage).toBe('loading');
    await h.signal(resumeSignal);
    const out = await h.result();
    expect(out.cells.map((c) => c.id)).toEqual(['baseline-1of1-s0']);
  });

  it('in the AFT sweep: setConcurrency adds cells at once (bad values refused); pause lets running cells finish and starts none until resume', async () => {
    // baseline x {1, 1/2} x seeds {0, 1}: four runs, one at a time to begin with.
    const aft = { ...experiment().aft, arms: ['baseline'], concurrency: 1 };
    const labels = ['1of1-s0', '1of1-s1', '1of2-s0', '1of2-s1'].map((c) => `aft-baseline-${c}`);
    labels.forEach((l) => held.add(l));
    try {
      const h = await env.start(msmExperiment, 'controls-sweep', experiment({ aft }));
      await waitFor(() => gate.waiting.length === 1, 'the first AFT run');
      await new Promise((r) => setTimeout(r, 500));
      expect(trained()).toEqual(['aft-baseline-1of1-s0']);

      for (const bad of [0, 65, 1.5]) {
        const refused = await h.executeUpdate(setConcurrencyUpdate, { args: [bad] }).catch((e: unknown) => e);
        expect(failureText(refused)).toMatch(/concurrency must be an integer in 1\.\.64/);
      }
      expect(await h.executeUpdate(setConcurrencyUpdate, { args: [2] })).toBe(2);
      await waitFor(() => gate.waiting.length === 2, 'a second AFT run at concurrency 2');
      expect((await h.query(progressQuery)).sweepConcurrency).toBe(2);

      await h.signal(pauseSignal);
      await waitFor(async () => (await h.query(progressQuery)).paused, 'the pause');
      gate.open(labels[0], labels[1]);
      const done = async () => (await h.query(progressQuery)).cells.filter((c) => c.status === 'done').length;
      await waitFor(async () => (await done()) === 2, 'the two running cells to finish');
      await new Promise((r) => setTimeout(r, 500));
      expect(trained()).toEqual(labels.slice(0, 2));

      await h.signal(resumeSignal);
      await waitFor(() => gate.waiting.length === 2, 'the other two after resume');
      gate.open(...labels);
      const out = await h.result();
      expect(out.cells).toHaveLength(4);
      expect(trained()).toEqual(labels);
    } finally {
      gate.open(...labels);
      held.clear();
    }
  });
});
