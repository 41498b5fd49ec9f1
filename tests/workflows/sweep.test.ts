import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentInput, FrozenInputs } from '../../src/config/experiment-schema';
import { loadSweepFile } from '../../src/sweep/load-sweep-file';
import type { SweepCompareRequest } from '../../src/sweep/compare-sweep';
import type { SweepInput } from '../../src/sweep/sweep-schema';
import { msmSweep, pauseSignal, resumeSignal, setConcurrencyUpdate, sweepProgressQuery } from '../../src/workflows';
import { argsOf, failureText, gates, startStubbedEnv, waitFor, type StubbedEnv } from '../helpers/stubbed-workflows';
import { EXPERIMENT_NAMES, experimentStubs, smallExperiment } from './stub-experiment';

/**
 * msmSweep on a real Temporal server, its points real msmExperiment children with stubbed activities:
 * which points run (and which not again), what a failed point leaves, how many run at once, pause and
 * resume, continue-as-new carrying the finished points, and bad input. The sweep's input comes from
 * loadSweepFile (as `msm sweep <file>` reads it).
 */
const SHA = 'a'.repeat(64);
const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-stubbed-sweep-'));

function sweepFile(name: string, sweep: Record<string, unknown>) {
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, base: smallExperiment(), ...sweep }));
  return loadSweepFile(file);
}

describe('msmSweep with stubbed activities (real Temporal server)', () => {
  let env: StubbedEnv;
  const gate = gates();
  /** Experiments (by name) whose load waits at the gate; those whose spec fails to load. */
  const held = new Set<string>();
  const badSpecs = new Set<string>();
  const stubs = experimentStubs();
  const load = stubs['msm-cpu'].loadExperiment;
  beforeAll(async () => {
    const cpu = {
      ...stubs['msm-cpu'],
      loadExperiment: async (raw: ExperimentInput) => {
        if (held.has(raw.name)) await gate.wait(raw.name);
        if (badSpecs.has(raw.spec))
          throw ApplicationFailure.nonRetryable(`${raw.spec}: the spec has no rules`, 'BadInput');
        return load(raw);
      },
      freezeSweepInputs: async (input: SweepInput): Promise<FrozenInputs> => ({
        [input.base.spec]: { sha256: SHA, size: 10 },
      }),
      compareSweep: async (req: SweepCompareRequest) => ({
        jsonUri: `file:///tmp/sweeps/${req.workflowId}/comparison.json`,
        markdownUri: `file:///tmp/sweeps/${req.workflowId}/comparison.md`,
        htmlUri: `file:///tmp/sweeps/${req.workflowId}/comparison.html`,
        compared: req.points.filter((p) => p.status === 'done').length,
      }),
    };
    env = await startStubbedEnv({ ...stubs, 'msm-cpu': cpu }, EXPERIMENT_NAMES);
  });
  afterAll(async () => env?.close());

  const loads = () => argsOf<ExperimentInput>(env.calls, 'loadExperiment').map((x) => x.name);

  it('every point is one experiment; a failing point is recorded and the rest finish and are compared; its retry runs it alone', async () => {
    badSpecs.add('specs/bad.md');
    const { input, points } = sweepFile('sw', {
      axes: { spec: ['specs/demo.md', 'specs/bad.md'], 'eval.samplesPerPrompt': [1, 2] },
      exclude: [{ spec: 'specs/bad.md', 'eval.samplesPerPrompt': 2 }],
      concurrency: 3,
    });
    const ids = points.map((p) => p.id);
    const bad = points.find((p) => p.values.spec === 'specs/bad.md')!.id;
    const first = await (await env.start(msmSweep, 'sw', input)).result();

    // Started with paths only: the files are frozen once, before any point, and every point reads them.
    expect(env.calls[0].name).toBe('freezeSweepInputs');
    expect(argsOf(env.calls, 'freezeSweepInputs')).toHaveLength(1);
    const loaded = argsOf<ExperimentInput>(env.calls, 'loadExperiment');
    expect(loaded.map((x) => x.name).sort()).toEqual(ids.map((id) => `sw-${id}`).sort());
    for (const x of loaded) expect(x.frozenInputs).toEqual({ 'specs/demo.md': { sha256: SHA, size: 10 } });
    expect(loaded.find((x) => x.name === `sw-${ids[1]}`)!.eval.samplesPerPrompt).toBe(2);

    expect(first.points.map((p) => [p.id, p.status, p.workflowId])).toEqual(
      ids.map((id) => [id, id === bad ? 'failed' : 'done', `sw.${id}`]),
    );
    expect(first.points.find((p) => p.id === bad)!.error).toMatch(/specs\/bad\.md: the spec has no rules/);
    expect(first.points.find((p) => p.id === ids[0])!.resultsUri).toBe(`file:///tmp/report/sw.${ids[0]}/results.json`);
    // Only the failed point's experiment stopped: the other two trained and evaluated.
    expect(argsOf(env.calls, 'runTraining')).toHaveLength(2);
    const [compared] = argsOf<SweepCompareRequest>(env.calls, 'compareSweep');
    expect(compared).toMatchObject({ workflowId: 'sw', name: 'sw' });
    expect(compared.points).toEqual(first.points);
    expect(first.comparison).toMatchObject({ compared: 2 });
    expect(first.sweep).not.toHaveProperty('only');
    expect(first.sweep.base.frozenInputs).toBeDefined();

    // `msm sweep retry sw <bad>`, once the spec is fixed: the done points reused, the failed one alone.
    badSpecs.clear();
    const retry = { ...first.sweep, reuse: first.points.filter((p) => p.status === 'done'), only: [bad] };
    const second = await (await env.start(msmSweep, 'sw', retry)).result();
    expect(loads()).toEqual([`sw-${bad}`]);
    expect(argsOf(env.calls, 'freezeSweepInputs')).toEqual([]); // frozen already
    expect(second.points.map((p) => p.status)).toEqual(['done', 'done', 'done']);
    expect(second.points.filter((p) => p.id !== bad)).toEqual(first.points.filter((p) => p.id !== bad));
    expect(argsOf<SweepCompareRequest>(env.calls, 'compareSweep')[0].points).toEqual(second.points);
  });

  it('runs at most `concurrency` points; setConcurrency raises it; pause holds new points until resume', async () => {
    const { input, points } = sweepFile('cc', { axes: { 'eval.samplesPerPrompt': [1, 2, 3, 4] }, concurrency: 2 });
    const names = points.map((p) => `cc-${p.id}`);
    names.forEach((n) => held.add(n));
    try {
      const h = await env.start(msmSweep, 'cc', input);
      const statuses = async () => (await h.query(sweepProgressQuery)).points.map((p) => p.status);
      await waitFor(() => gate.waiting.length === 2, 'two points to start');
      await new Promise((r) => setTimeout(r, 500));
      expect(loads().sort()).toEqual(names.slice(0, 2));
      expect(await statuses()).toEqual(['running', 'running', 'pending', 'pending']);

      const refused = await h.executeUpdate(setConcurrencyUpdate, { args: [0] }).catch((e: unknown) => e);
      expect(failureText(refused)).toMatch(/concurrency must be an integer in 1\.\.64/);
      expect(await h.executeUpdate(setConcurrencyUpdate, { args: [3] })).toBe(3);
      await waitFor(() => gate.waiting.length === 3, 'a third point after setConcurrency 3');

      // Paused: a finished point frees a slot, but the fourth does not start.
      await h.signal(pauseSignal);
      await waitFor(async () => (await h.query(sweepProgressQuery)).paused, 'the pause');
      gate.open(names[0]);
      await waitFor(async () => (await statuses())[0] === 'done', 'the first point to finish');
      await new Promise((r) => setTimeout(r, 500));
      expect(loads()).toHaveLength(3);
      expect((await statuses())[3]).toBe('pending');

      await h.signal(resumeSignal);
      await waitFor(() => loads().length === 4, 'the fourth point after resume');
      gate.open(...names);
      const out = await h.result();
      expect(out.points.map((p) => p.status)).toEqual(['done', 'done', 'done', 'done']);
    } finally {
      gate.open(...names);
      held.clear();
    }
  });

  it('past pointsPerRun it continues as new, carrying the finished (and failed) points: none runs twice', async () => {
    badSpecs.add('specs/bad.md');
    try {
      const { input, points } = sweepFile('roll', {
        axes: { spec: ['specs/bad.md', 'specs/demo.md'], 'eval.samplesPerPrompt': [1, 2] },
        concurrency: 1,
        pointsPerRun: 2,
      });
      const out = await (await env.start(msmSweep, 'roll', input)).result();
      // Two points a run: the two bad ones in the first, the good ones in the second.
      await waitFor(async () => (await env.runsOf('roll')) === 2, 'two runs of the sweep');
      expect(loads()).toEqual(points.map((p) => `roll-${p.id}`));
      expect(out.points.map((p) => p.status)).toEqual(['failed', 'failed', 'done', 'done']);
      expect(out.points[0].error).toMatch(/specs\/bad\.md/);
      expect(argsOf(env.calls, 'freezeSweepInputs')).toHaveLength(1); // the continued run has them
      expect(argsOf(env.calls, 'compareSweep')).toHaveLength(1);
      expect(out.sweep).not.toHaveProperty('settled');
    } finally {
      badSpecs.clear();
    }
  });

  it('a malformed input (started by hand) fails as bad input with the fix, before any activity', async () => {
    env.calls.length = 0;
    const h = await env.client.workflow.start('msmSweep', {
      taskQueue: 'msm',
      workflowId: 'sweep-malformed',
      args: [{ name: 'by-hand', base: 'experiments/demo.json', axes: ['spec'] }],
    });
    const err = await h.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect([cause.type, cause.nonRetryable]).toEqual(['BadInput', true]);
    expect(cause.message).toMatch(/base: the base experiment itself/);
    expect(cause.message).toMatch(/msm sweep <file>/);
    expect(env.calls).toEqual([]);
  });
});
