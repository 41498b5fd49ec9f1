import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { msmExperiment } from '../src/workflows';

import { scriptedExperiment } from './helpers/scripted-experiment';
import { useScriptedTemporal } from './helpers/scripted-temporal';

/** aft.mix through the whole experiment workflow: both arms train on the same instruction-tuning rows. */
describe('an experiment with aft.mix on a real Temporal server', () => {
  const t = useScriptedTemporal();

  it('tokenizes the mix once and gives every cell of both arms its share of it', async () => {
    const base = scriptedExperiment('mix', t.llm.baseUrl).input;
    const { input } = scriptedExperiment('mix', t.llm.baseUrl, {
      midtrain: { method: 'full', lr: 0.001, batchSize: 4, maxSteps: 3, checkpointEverySteps: 50 },
      aft: { ...base.aft, fractions: ['1/2'], mix: { data: 'experiments/data/instruct-mix.jsonl', ratio: 0.5 } },
    });
    const handle = await t.client.workflow.start(msmExperiment, {
      taskQueue: 'msm',
      workflowId: 'aft-mix-e2e',
      args: [input],
    });
    const out = await handle.result();
    expect(out.cells.map((c) => c.id).sort()).toEqual(['baseline-1of2-s0', 'msm-1of2-s0']);

    const history = await handle.fetchHistory();
    // The workflow change is behind patched('aft-mix'): its marker names the patch in the payload data.
    const markerData = history
      .events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .flatMap((e) => Object.values(e.markerRecordedEventAttributes!.details ?? {}).flatMap((p) => p.payloads ?? []))
      .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
    expect(markerData.some((d) => d.includes('aft-mix'))).toBe(true);
    const tokenizeCalls = history.events!.filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'tokenizeAftData',
    );
    expect(tokenizeCalls).toHaveLength(2); // the AFT data and the mix

    // Each cell's run: 12 AFT examples (half of 24) and 6 instruction-tuning ones (ratio 0.5).
    const results = JSON.parse(readFileSync(fileURLToPath(out.report.resultsUri), 'utf8')) as {
      cells: Array<{ arm: string; modelUri: string }>;
    };
    const metrics = results.cells.map((c) => {
      const m = JSON.parse(readFileSync(path.join(fileURLToPath(c.modelUri), 'metrics.json'), 'utf8')) as Record<
        string,
        number
      >;
      return { arm: c.arm, examples: m.examples, mix: m.mix_examples };
    });
    expect(metrics.sort((a, b) => a.arm.localeCompare(b.arm))).toEqual([
      { arm: 'baseline', examples: 18, mix: 6 },
      { arm: 'msm', examples: 18, mix: 6 },
    ]);
  }, 480_000);
});
