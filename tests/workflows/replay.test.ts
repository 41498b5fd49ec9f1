import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../../src/workers/create-workers';

/**
 * Recorded histories of real runs replayed against today's workflow code: a change that breaks determinism
 * fails here. Recorded by scripts/record-scripted-histories.ts (aft.generate, aft.mix, batch generation),
 * scripts/record-arms-histories.ts (every kind of arm), scripts/record-controls-histories.ts (placebo,
 * midtrain.seeds, an external arm, eval.budgetUsd allowances, cells signalling `sampled`; recorded
 * 2026-12-07 from code with no patch in it), scripts/record-sweep-history.ts (a sweep with a
 * failing point) and tests/report-calibration.test.ts with MSM_RECORD_HISTORY (a calibrated report).
 * All were recorded from code with no patch in it (0.1.0 retired its patches): a later change to workflow code
 * goes behind patched(), and these files stay as they are so that they test it. Re-record them only when
 * retiring a patch (docs/deploying.md), once no run in flight needs the old path.
 */
const dir = path.join(__dirname, '..', 'histories');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('replay of recorded histories', () => {
  it('has recorded histories of the experiment and of each child workflow type', () => {
    const types = new Set(
      files.map(
        (f) =>
          historyFromJSON(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))).events![0]
            .workflowExecutionStartedEventAttributes!.workflowType!.name,
      ),
    );
    expect([...types].sort()).toEqual([
      'aftDataGeneration',
      'corpusGeneration',
      'evaluationRun',
      'msmExperiment',
      'msmSweep',
      'reportRun',
      'trainingRun',
    ]);
  });

  it('replays every history deterministically', async () => {
    // Files are named by workflow id (scripts/record-histories.ts): child ids must match on replay.
    const histories = files.map((f) => ({
      workflowId: f.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, f), 'utf8'))),
    }));
    const bundle = await workflowBundle();
    const results = Worker.runReplayHistories({ workflowBundle: bundle }, histories);
    let count = 0;
    for await (const r of results) {
      expect(r.error, `${r.workflowId}: ${r.error?.message}`).toBeUndefined();
      count++;
    }
    expect(count).toBe(files.length);
  }, 300_000);
});
