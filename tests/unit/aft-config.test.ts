import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import type { LoadedExperiment } from '../../src/activities/types';
import { parseExperiment } from '../../src/config/experiment-schema';

const minimal = { name: 'x', spec: 'specs/demo.md', eval: { prompts: 'experiments/data/demo-eval.jsonl' } };

/** aft.generate as the alternative to aft.data: exactly one of them, defaults in the schema. */
describe('aft.generate settings', () => {
  it('applies its defaults: six question types, value style, cosine 0.91, three backfill rounds', () => {
    const x = parseExperiment({ ...minimal, aft: { generate: {} } });
    expect(x.aft.data).toBeUndefined();
    expect(x.aft.generate).toMatchObject({
      provider: { kind: 'local' },
      count: 200,
      style: 'value',
      questionTypes: ['direct', 'indirect', 'comparison', 'recommendation', 'opinion', 'edge-case'],
      dedupThreshold: 0.91,
      filter: true,
      backfillRounds: 3,
      train: 'with-reasoning',
    });
  });

  it('needs exactly one of aft.data and aft.generate, and says so', () => {
    expect(() => parseExperiment({ ...minimal, aft: {} })).toThrow(
      /aft: give the AFT data: either "data" \(a chat JSONL file\) or "generate"/,
    );
    expect(() => parseExperiment({ ...minimal, aft: { data: 'a.jsonl', generate: {} } })).toThrow(
      /aft: give either "data" or "generate", not both/,
    );
  });

  it('names bad generate fields by path', () => {
    const bad = { style: 'poem', questionTypes: ['direct', 'direct'], dedupThreshold: 1.5, backfillRounds: 4 };
    expect(() => parseExperiment({ ...minimal, aft: { generate: bad } })).toThrow(
      /aft\.generate\.style[\s\S]*aft\.generate\.questionTypes: list each question type once[\s\S]*aft\.generate\.dedupThreshold[\s\S]*aft\.generate\.backfillRounds/,
    );
  });

  it('loading an experiment with aft.generate reads no AFT file', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-aftgen-'));
    const loaded: LoadedExperiment = await new MockActivityEnvironment().run(
      createExperimentActivities().loadExperiment,
      { ...minimal, store, aft: { generate: { count: 32 } } },
    );
    expect(loaded.aftData).toBeNull();
    expect(loaded.experiment.aft.generate?.count).toBe(32);
    expect(loaded.aftSubsets).toMatchObject({
      examples: 32,
      counted: 'aft.generate.count',
      perFraction: [{ fraction: 1, examples: 32 }],
    });
  });
});
