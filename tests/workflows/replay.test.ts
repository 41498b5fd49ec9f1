import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../../src/workers/create-workers';

/**
 * Recorded histories of real runs (the demo, and a scripted experiment with aft.generate, aft.mix and batch
 * generation: scripts/record-scripted-histories.ts; every kind of arm: scripts/record-arms-histories.ts; a sweep with a failing point: scripts/record-sweep-history.ts) replayed
 * against today's workflow code:
 * a change that breaks determinism fails here. Re-record with scripts/record-histories.ts only together
 * with a `patched()` migration for runs in flight.
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
