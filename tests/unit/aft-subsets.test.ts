import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { recordingBackend } from '../helpers/recording-backend';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { LoadedExperiment, TrainRequest, TrainResult } from '../../src/activities/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import { buildResults } from '../../src/report/results';
import { demoExperiment } from '../helpers/demo-experiment';

/**
 * aft.subsetBySeed reaches the trainer job (which draws the subset: trainer/tests/test_subsets.py), keys
 * its runs apart from shared-subset runs, and results.json says which was used.
 */
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msm-subsets-'));
const minimal = demoExperiment('subsets', path.join(tmp, 'store'));

describe('aft.subsetBySeed', () => {
  it('is off by default: every seed shares one nested subset, as before', () => {
    expect(parseExperiment(minimal).aft).toMatchObject({ subsetBySeed: false, minExamples: 16 });
  });

  it('reaches the trainer manifest only when set, and keys those runs apart', async () => {
    const { backend, manifests } = recordingBackend();
    const trainer = createTrainerActivities({ backend, stateDir: path.join(tmp, 'state') });
    const x = parseExperiment(minimal);
    const req = (seed: number, subsetBySeed?: boolean): TrainRequest => ({
      kind: 'aft',
      storeUri: `file://${path.join(tmp, 'runs')}`,
      label: `aft-s${seed}`,
      seed,
      fraction: 0.5,
      data: {
        manifestUri: 'file:///data/manifest.json',
        sha256: 'd',
        numSequences: 24,
        numTokens: 1,
        tokenizerUri: 'file:///tok.json',
        vocabSize: 10,
      },
      ...(subsetBySeed !== undefined ? { subsetBySeed } : {}),
      experiment: { baseModel: x.baseModel, compute: x.compute },
      hyper: x.aft.hyper,
    });
    const run = (r: TrainRequest): Promise<TrainResult> => new MockActivityEnvironment().run(trainer.runTraining, r);
    const shared = await run(req(0));
    const sharedOff = await run(req(0, false));
    const own = await run(req(0, true));
    expect(manifests[0]).not.toHaveProperty('subsetBySeed');
    expect(manifests[1]).not.toHaveProperty('subsetBySeed');
    expect(manifests[2]).toMatchObject({ kind: 'aft', seed: 0, fraction: 0.5, subsetBySeed: true });
    // Off keeps the keys of runs made before the option existed; on is another run.
    expect(sharedOff.runKey).toBe(shared.runKey);
    expect(own.runKey).not.toBe(shared.runKey);
  });

  it('loadExperiment says how the subsets are drawn and results.json carries it', async () => {
    const load = (aft: Record<string, unknown>): Promise<LoadedExperiment> =>
      new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, {
        ...minimal,
        aft: { ...minimal.aft, ...aft },
      });
    const loaded = await load({ subsetBySeed: true, fractions: [1, '1/2'], minExamples: 12 });
    expect(loaded.aftSubsets).toEqual({
      subsetBySeed: true,
      minExamples: 12,
      minSteps: 1,
      examples: 24,
      counted: 'aft.data',
      perFraction: [
        { fraction: 1, label: '1/1', examples: 24, steps: 3 },
        { fraction: 0.5, label: '1/2', examples: 12, steps: 2 },
      ],
    });
    expect((await load({})).aftSubsets).toMatchObject({
      subsetBySeed: false,
      perFraction: [{ fraction: 1, examples: 24 }],
    });

    const cell = {
      arm: 'baseline' as const,
      fraction: 1,
      seed: 0,
      trainFinalLoss: 1,
      modelUri: 'file:///m',
      eval: { k: 1, n: 4, samplesUri: 'file:///s', judgeModel: 'j' },
    };
    const results = buildResults({
      experiment: {
        name: 'subsets',
        workflowId: 'wf',
        specTitle: 'Spec',
        specHash: 'h',
        specVariant: 'full',
        baseModel: 'tiny',
        corpus: {
          documents: 1,
          tokens: 1,
          hash: 'c',
          truncated: 0,
          truncatedDropped: 0,
          duplicatesRemoved: 0,
          documentCostUsd: 0,
        },
        aftSubsets: loaded.aftSubsets,
      },
      cells: [cell],
      generatedAt: '2026-11-28T00:00:00Z',
    });
    expect(results.experiment.aftSubsets).toMatchObject({ subsetBySeed: true, examples: 24 });
  });
});
