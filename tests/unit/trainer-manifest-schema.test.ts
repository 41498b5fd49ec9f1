import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TRAINER_DIR, trainerBundle } from '../../src/compute/trainer-bundle';
import type { TrainerJobManifest } from '../../src/training/job';
import {
  checkTrainerManifest,
  trainerJobManifestSchema,
  trainerManifestJsonSchema,
} from '../../src/training/manifest-schema';
import { PROJECT_ROOT } from '../../src/util/project-paths';

const REGENERATE = 'bin/msm schema manifest trainer/msm_trainer/manifest.schema.json';
const SHIPPED = path.join(DEFAULT_TRAINER_DIR, 'msm_trainer', 'manifest.schema.json');

const train: TrainerJobManifest = {
  kind: 'aft',
  jobId: 'job-1',
  baseModel: { init: 'random', vocabSize: 64 },
  dataUri: 'file:///store/data/manifest.json',
  hyper: { method: 'lora', lr: 1e-4, batchSize: 8 },
  checkpointPrefix: 'file:///store/runs/x/checkpoints',
  outputUri: 'file:///store/runs/x/final',
  seed: 0,
  device: 'cpu',
};

describe('the trainer job manifest schema', () => {
  it(`is the one the trainer ships (stale: regenerate with ${REGENERATE})`, () => {
    expect(readFileSync(SHIPPED, 'utf8'), `trainer/msm_trainer/manifest.schema.json is stale: run ${REGENERATE}`).toBe(
      trainerManifestJsonSchema(),
    );
  });

  it(`is what ${REGENERATE} writes`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-manifest-schema-'));
    try {
      const out = path.join(dir, 'manifest.schema.json');
      await promisify(execFile)(path.join(PROJECT_ROOT, 'bin', 'msm'), ['schema', 'manifest', out], {
        cwd: PROJECT_ROOT,
      });
      expect(readFileSync(out, 'utf8')).toBe(trainerManifestJsonSchema());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('travels with the trainer to remote machines', async () => {
    const bundle = await trainerBundle(DEFAULT_TRAINER_DIR);
    expect(bundle.files).toContain('msm_trainer/manifest.schema.json');
    expect(bundle.files).toContain('msm_trainer/manifest.py');
  });

  it('declares each default once: the TypeScript parse and the JSON Schema the trainer reads agree', () => {
    const parsed = trainerJobManifestSchema.parse(train);
    expect(parsed.hyper).toMatchObject({ loraR: 64, loraAlpha: 128, microBatchSize: 4, epochs: 1, compile: false });
    expect(parsed.baseModel).toMatchObject({ hiddenSize: 64, numLayers: 2, numHeads: 4, initSeed: 0, arch: 'llama' });
    expect(parsed.fraction).toBe(1);
    const json = JSON.parse(trainerManifestJsonSchema()) as {
      properties: Record<string, { default?: unknown }>;
      $defs: Record<string, { properties: Record<string, { default?: unknown }> }>;
      required: string[];
    };
    expect(json.$defs.TrainHyper.properties.loraR.default).toBe(64);
    expect(json.$defs.ModelInit.properties.hiddenSize.default).toBe(64);
    expect(json.properties.fraction.default).toBe(1);
    // Fields with a default are optional in the manifest: the trainer fills them.
    expect(json.required).not.toContain('fraction');
    expect(json.required).toEqual(expect.arrayContaining(['kind', 'jobId', 'baseModel', 'checkpointPrefix', 'seed']));
  });

  it('refuses a manifest the trainer would refuse, naming the field (before any machine is started)', () => {
    expect(() => checkTrainerManifest(train)).not.toThrow();
    expect(() => checkTrainerManifest({ ...train, kind: 'pretrain' })).toThrow(/kind: /);
    expect(() => checkTrainerManifest({ ...train, hyper: { ...train.hyper, lr: 0 } })).toThrow(/hyper\.lr: /);
    expect(() => checkTrainerManifest({ ...train, epochs: 2 })).toThrow(/epochs/);
    const { jobId: _dropped, ...noId } = train;
    expect(() => checkTrainerManifest(noId)).toThrow(/jobId: /);
  });
});
