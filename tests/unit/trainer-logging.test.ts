import { mkdtempSync, rmSync } from 'node:fs';
import { midtrainHyper } from '../../src/config/midtrain';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { recordingBackend } from '../helpers/recording-backend';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { TrainRequest, TrainResult } from '../../src/activities/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import { demoExperiment } from '../helpers/demo-experiment';

/** logging.wandb: validated with the experiment, handed to the trainer job, and in no run's key. */
const tmp = mkdtempSync(path.join(os.tmpdir(), 'msm-logging-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const minimal = demoExperiment('logging', path.join(tmp, 'store'));

describe('logging.wandb', () => {
  it('is optional and says what a bad block should be', () => {
    expect(parseExperiment(minimal).logging).toBeUndefined();
    expect(parseExperiment({ ...minimal, logging: { wandb: { project: 'msm', mode: 'offline' } } }).logging).toEqual({
      wandb: { project: 'msm', mode: 'offline' },
    });
    expect(() => parseExperiment({ ...minimal, logging: { wandb: { project: '' } } })).toThrow(
      /logging\.wandb\.project: name the W&B project/,
    );
    expect(() => parseExperiment({ ...minimal, logging: { wandb: { project: 'p', mode: 'loud' } } })).toThrow(
      /logging\.wandb\.mode: logging\.wandb\.mode must be "online", "offline"/,
    );
    expect(() => parseExperiment({ ...minimal, logging: { wandb: { project: 'p', apiKey: 'k' } } })).toThrow(
      /logging\.wandb: unknown field\(s\) apiKey/,
    );
    expect(() => parseExperiment({ ...minimal, logging: { tensorboard: true } })).toThrow(
      /logging: unknown field\(s\) tensorboard/,
    );
  });

  it('reaches the trainer manifest only when set, and leaves the run key as it was', async () => {
    const { backend, manifests } = recordingBackend();
    const trainer = createTrainerActivities({ backend, stateDir: path.join(tmp, 'state') });
    const x = parseExperiment({ ...minimal, logging: { wandb: { project: 'msm', entity: 'lab' } } });
    const req = (logging: boolean): TrainRequest => ({
      kind: 'midtrain',
      storeUri: `file://${path.join(tmp, logging ? 'runs-a' : 'runs-b')}`,
      label: 'midtrain',
      seed: 0,
      data: {
        manifestUri: 'file:///data/manifest.json',
        sha256: 'd',
        numSequences: 24,
        numTokens: 1,
        tokenizerUri: 'file:///tok.json',
        vocabSize: 10,
      },
      experiment: { baseModel: x.baseModel, compute: x.compute, ...(logging ? { logging: x.logging } : {}) },
      hyper: midtrainHyper(x.midtrain),
    });
    const run = (r: TrainRequest): Promise<TrainResult> => new MockActivityEnvironment().run(trainer.runTraining, r);
    const withWandb = await run(req(true));
    const without = await run(req(false));
    expect(manifests[0].logging).toEqual({ wandb: { project: 'msm', entity: 'lab' } });
    expect(manifests[1]).not.toHaveProperty('logging');
    expect(withWandb.runKey).toBe(without.runKey);
  });
});
