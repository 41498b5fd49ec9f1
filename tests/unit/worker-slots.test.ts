import { describe, expect, it } from 'vitest';
import { parseExperiment } from '../../src/config/experiment-schema';
import { workerSlots } from '../../src/config/worker-slots';
import { slotWarnings } from '../../src/experiment/check-experiment';

const experiment = (extra: Record<string, unknown>) =>
  parseExperiment({
    name: 'x',
    spec: 's.md',
    aft: { data: 'a.jsonl' },
    eval: { prompts: 'e.jsonl' },
    ...extra,
  });

describe("a worker's slots and the experiment's concurrency", () => {
  it('defaults per queue; a variable overrides; a bad value names its variable', () => {
    expect(workerSlots('msm-llm', {})).toBe(8);
    expect(workerSlots('msm-gpu', {})).toBe(16);
    expect(workerSlots('msm-llm', { MSM_LLM_SLOTS: '32' })).toBe(32);
    expect(() => workerSlots('msm-cpu', { MSM_CPU_SLOTS: '0' })).toThrow(/MSM_CPU_SLOTS must be a whole number >= 1/);
  });

  it('warns when generation asks for more LLM activities at once than a worker runs, and says what to set', () => {
    const x = experiment({ generation: { concurrency: 32 } });
    expect(slotWarnings(x, {})).toEqual([
      'generation.concurrency: 32 at once, but a worker runs at most 8 msm-llm activities at once (MSM_LLM_SLOTS); ' +
        'with one worker on msm-llm you get 8: set MSM_LLM_SLOTS=32 on the worker, or run 4 workers',
    ]);
    expect(slotWarnings(x, { MSM_LLM_SLOTS: '32' })).toEqual([]);
  });

  it('says nothing at the defaults', () => {
    expect(slotWarnings(experiment({}), {})).toEqual([]);
  });
});
