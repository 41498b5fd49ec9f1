import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import { createTokenizeActivities } from '../../src/activities/tokenize-activities';
import { createTrainerActivities } from '../../src/activities/trainer-activities';
import type { LoadedExperiment, TokenizedRef, TrainRequest, TrainResult } from '../../src/activities/types';
import { aftSubsetSize, mixCount, mixShortfall } from '../../src/config/aft-mix';
import { parseExperiment } from '../../src/config/experiment-schema';
import { loadExperimentFile } from '../../src/experiment/load-experiment-file';
import { openStore } from '../../src/store/open-store';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { TINY_MODEL } from '../helpers/tiny-trainer-job';

const MIX = 'experiments/data/instruct-mix.jsonl';
const experiment = (store: string, aft: Record<string, unknown>) => ({
  name: 'mix-check',
  spec: 'specs/demo.md',
  store,
  baseModel: TINY_MODEL,
  // Toy data on purpose: half of the 24 examples is under the default aft.minExamples.
  aft: { data: 'experiments/data/demo-aft.jsonl', minExamples: 1, minSteps: 1, ...aft },
  eval: { prompts: 'experiments/data/demo-eval.jsonl' },
  compute: { backend: 'local', device: 'cpu' },
});
const env = () => new MockActivityEnvironment();
const load = (raw: unknown): Promise<LoadedExperiment> => env().run(createExperimentActivities().loadExperiment, raw);

describe('aft.mix: AFT data mixed with an instruction-tuning set', () => {
  it('is optional, validated with its path; the shipped agentic experiment leaves it out (the shipped mix is a 12-line format example)', () => {
    const minimal = { name: 'x', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };
    const x = parseExperiment(minimal);
    expect(x.aft.mix).toBeUndefined();
    expect(x.aft.continueAdapter).toBe(true);
    expect(x.aft.hyper.gradientCheckpointing).toBe(false);
    expect(() => parseExperiment({ ...minimal, aft: { data: 'a', mix: { data: MIX, ratio: 0 } } })).toThrow(
      /aft\.mix\.ratio: ratio must be > 0/,
    );
    expect(() => parseExperiment({ ...minimal, aft: { data: 'a', mix: { ratio: 1 } } })).toThrow(
      /aft\.mix\.data: required/,
    );
    expect(() => parseExperiment({ ...minimal, aft: { data: 'a', mix: { data: MIX, ratio: 1, seed: 3 } } })).toThrow(
      /aft\.mix: unknown field\(s\) seed/,
    );
    const agentic = loadExperimentFile(path.join(PROJECT_ROOT, 'experiments', 'agentic.yaml')).experiment;
    expect(agentic.aft.mix).toBeUndefined();
    expect(mixShortfall(agentic.aft.generate!.count, agentic.aft.fractions, 0.5, 12)).toMatch(
      /needs 2400 mix examples/,
    );
  });

  it('counts examples the way the trainer does: the mix scales with the AFT subset', () => {
    expect([1, 1 / 4, 1 / 40].map((f) => aftSubsetSize(24, f))).toEqual([24, 6, 1]);
    expect([24, 6, 1, 3].map((k) => mixCount(k, 0.5))).toEqual([12, 3, 1, 2]); // halves round up, as in mixing.py
    expect(mixShortfall(24, [1, 0.25], 0.5, 12)).toBeNull();
    expect(mixShortfall(24, [0.25, 1], 0.6, 12)).toMatch(
      /needs 14 mix examples for the 24 AFT examples of the largest fraction, but aft\.mix\.data has 12/,
    );
  });

  it('loadExperiment stores the mix set, and refuses one too small for the largest fraction', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-mix-'));
    const plain = await load(experiment(store, {}));
    expect(plain.mixData).toBeUndefined();
    const loaded = await load(experiment(store, { mix: { data: MIX, ratio: 0.5 } }));
    expect(loaded.mixData).toMatchObject({
      examples: 12,
      key: expect.stringMatching(/^inputs\/mix-[0-9a-f]{16}\.jsonl$/),
    });
    expect((await openStore(store).get(loaded.mixData!.key)).toString('utf8')).toBe(
      readFileSync(path.join(PROJECT_ROOT, MIX), 'utf8'),
    );
    // Half the AFT data needs only 12 at ratio 1; all of it would need 24.
    expect(
      (await load(experiment(store, { fractions: ['1/2'], mix: { data: MIX, ratio: 1 } }))).mixData?.examples,
    ).toBe(12);
    const err = await load(experiment(store, { fractions: ['1/1', '1/2'], mix: { data: MIX, ratio: 1 } })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(
      /aft\.mix\.ratio: 1 mix examples per AFT example needs 24 .* has 12; add examples to it or lower aft\.mix\.ratio/,
    );
    const missing = await load(experiment(store, { mix: { data: 'experiments/data/nope.jsonl', ratio: 1 } })).catch(
      (e: unknown) => e,
    );
    expect((missing as Error).message).toMatch(/aft\.mix\.data: cannot read .*nope\.jsonl/);
  });

  it('tokenized like the AFT data, it reaches a real trainer job, which trains on both', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'msm-mix-run-'));
    const storeUri = pathToFileURL(path.join(root, 'store')).href;
    const x = parseExperiment(
      experiment(storeUri, {
        seqLen: 64,
        fractions: ['1/4'],
        mix: { data: MIX, ratio: 0.5 },
        hyper: { batchSize: 3, lr: 1e-3, loraR: 4, loraAlpha: 8 },
      }),
    );
    const loaded = await load(experiment(storeUri, { mix: { data: MIX, ratio: 0.5 } }));
    const tokenize = createTokenizeActivities();
    const opts = { family: 'llama3.1' as const, seqLen: x.aft.seqLen };
    const aft: TokenizedRef = await env().run(tokenize.tokenizeAftData, storeUri, loaded.aftData!, opts);
    const mix: TokenizedRef = await env().run(tokenize.tokenizeAftData, storeUri, loaded.mixData!, opts);
    expect(mix.numSequences).toBe(12);
    expect(mix.tokenizerUri).toBe(aft.tokenizerUri);
    expect(mix.manifestUri).not.toBe(aft.manifestUri);

    const trainer = createTrainerActivities({ stateDir: path.join(root, 'state') });
    const req = (label: string, withMix: boolean): TrainRequest => ({
      kind: 'aft',
      storeUri,
      label,
      data: aft,
      fraction: 0.25,
      seed: 0,
      experiment: x,
      hyper: x.aft.hyper,
      ...(withMix ? { mix: { data: mix, ratio: 0.5 } } : {}),
    });
    const mixed = (await env().run(trainer.runTraining, req('mixed', true))) as TrainResult;
    // 6 AFT examples (1/4 of 24) and 3 instruction-tuning ones: 9 rows, 3 steps of 3.
    expect(mixed.metrics).toMatchObject({ examples: 9, mix_examples: 3, steps: 3 });
    const plain = (await env().run(trainer.runTraining, req('plain', false))) as TrainResult;
    expect(plain.metrics).toMatchObject({ examples: 6, steps: 2 });
    expect(plain.metrics.mix_examples).toBeUndefined();
    // Turning gradient checkpointing on is not a different run: the finished one is reused, not retrained.
    const again = (await env().run(trainer.runTraining, {
      ...req('mixed', true),
      hyper: { ...x.aft.hyper, gradientCheckpointing: true },
    })) as TrainResult;
    expect(again.runKey).toBe(mixed.runKey);
    expect(again.metrics).toEqual(mixed.metrics);
    // aft.continueAdapter false reaches the job as freshAdapter (here refused: there is no midtraining to merge).
    const fresh = await env()
      .run(trainer.runTraining, { ...req('fresh', false), freshAdapter: true })
      .catch((e: unknown) => e);
    expect(fresh).toBeInstanceOf(ApplicationFailure);
    expect((fresh as Error).message).toMatch(/freshAdapter needs initFromUri/);
  }, 120_000);
});
