import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../src/activities/experiment-activities';
import type { LoadedExperiment } from '../src/activities/types';
import { openStore } from '../src/store/open-store';

const base = (store: string, evalPart: Record<string, unknown>) => ({
  name: 'split-check',
  spec: 'specs/self-preservation.md',
  store,
  aft: { data: 'experiments/data/demo-aft.jsonl' },
  eval: { prompts: 'experiments/data/agentic-eval.jsonl', ...evalPart },
});
const load = (raw: unknown): Promise<LoadedExperiment> => new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw);

describe('loading an experiment: the eval split', () => {
  const lines = readFileSync(path.join(__dirname, '..', 'experiments', 'data', 'agentic-eval.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; split: string });

  it('stores only the chosen split, so its hash says which part was evaluated', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-split-'));
    const all = await load(base(store, {}));
    const held = await load(base(store, { split: 'heldout' }));
    const dev = await load(base(store, { split: 'dev' }));
    const heldIds = lines.filter((l) => l.split === 'heldout').map((l) => l.id);
    expect(all.evalSet.prompts).toBe(lines.length);
    expect(held.evalSet.prompts).toBe(heldIds.length);
    expect(dev.evalSet.prompts).toBe(lines.length - heldIds.length);
    expect(new Set([all.evalSet.sha256, held.evalSet.sha256, dev.evalSet.sha256]).size).toBe(3);
    const stored = (await openStore(store).get(held.evalSet.key)).toString('utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    expect(stored).toEqual(heldIds);
  });

  it('a split the eval set does not have is bad input that says what to do', async () => {
    const store = mkdtempSync(path.join(os.tmpdir(), 'msm-split-'));
    const err = await load({ ...base(store, { split: 'dev' }), eval: { prompts: 'experiments/data/demo-eval.jsonl', split: 'dev' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(/eval\.split "dev": no line of experiments\/data\/demo-eval\.jsonl is in that split/);
  });
});
