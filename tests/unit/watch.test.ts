import { describe, expect, it } from 'vitest';
import { duration, eta, renderWatch } from '../../src/watch/render';
import type { ExperimentProgress, SweepProgress } from '../../src/workflows/definitions';

describe('msm watch frames', () => {
  it('an experiment mid-sweep: corpus cost against budget, training steps, cells and an ETA from the finished ones', () => {
    const progress: ExperimentProgress = {
      stage: 'aft-sweep',
      paused: false,
      spec: { title: 'Demo', hash: 'abcdef0123456789' },
      corpus: { documents: 11, truncated: 0, truncatedDropped: 0, duplicatesRemoved: 1, hash: 'h' },
      tokens: { sequences: 40, tokens: 3456 },
      midtrain: { outputUri: 'file:///m', finalLoss: 2.3104, resumedFromStep: 4 },
      cells: [
        { id: 'baseline-1of1-s0', arm: 'baseline', fraction: 1, seed: 0, status: 'done', rate: 0.5 },
        { id: 'msm-1of1-s0', arm: 'msm', fraction: 1, seed: 0, status: 'training' },
        { id: 'msm-1of4-s0', arm: 'msm', fraction: 0.25, seed: 0, status: 'pending' },
      ],
      sweepConcurrency: 1,
      compute: {
        machines: 2,
        machineHours: 1,
        gpuHours: 1.5,
        costUsd: 4.5,
        preemptions: 1,
        gpuHoursLost: 0.1,
        machineHoursLost: 0.1,
      },
      judge: { calls: 16, costUsd: 0.5, budgetUsd: 2 },
    };
    const frame = renderWatch({
      workflowId: 'msm-demo',
      status: 'RUNNING',
      elapsedMs: 600_000,
      progress,
      corpus: { costUsd: 1.25, budgetUsd: 5, documentsGenerated: 11, overBudget: false, awaitingApproval: false },
      training: [{ label: 'msm-1of1-s0', step: 3, totalSteps: 8, loss: 1.98765 }],
    });
    expect(frame).toContain('msm-demo — running, 10m00s');
    expect(frame).toContain('corpus    11 documents, cost $1.25 of $5.00');
    expect(frame).toContain('midtrain  final loss 2.310 (resumed from step 4)');
    expect(frame).toContain('training  msm-1of1-s0: step 3/8, loss 1.988');
    expect(frame).toContain('cells     1/3 done, 1 training, 0 evaluating, 1 pending — ETA ~20m00s (from 1 finished)');
    expect(frame).toMatch(/baseline-1of1-s0 +done +rate 50\.0%/);
    expect(frame).toContain('compute   1.50 GPU-h, $4.50, 1 preemptions');
    expect(frame).toContain('judge     16 calls, $0.50 of $2.00 (eval.budgetUsd)');
    const unbudgeted = renderWatch({
      workflowId: 'msm-demo',
      status: 'RUNNING',
      elapsedMs: 1000,
      progress: { ...progress, judge: { calls: 16, costUsd: 0.5, budgetUsd: null } },
    });
    expect(unbudgeted).toContain('judge     16 calls, $0.50\n');
  });

  it('generation.targetTokens: the corpus line says whether the target was reached, and by how much it was missed', () => {
    const target = { targetTokens: 41e6, estimatedTokens: 39.5e6, topUpRounds: 3 };
    const short = { ...target, reached: false, shortBy: 1.5e6, why: '3 top-up rounds spent' };
    const frame = (p: Partial<ExperimentProgress>, corpusTarget?: typeof target) =>
      renderWatch({
        workflowId: 'w',
        status: 'RUNNING',
        elapsedMs: 1000,
        progress: { stage: 'corpus', paused: false, cells: [], sweepConcurrency: 1, ...p },
        corpus: {
          costUsd: 0,
          budgetUsd: null,
          documentsGenerated: 12_000,
          overBudget: false,
          awaitingApproval: false,
          ...(corpusTarget && { target: corpusTarget }),
        },
      });
    const done = { documents: 11_800, truncated: 0, truncatedDropped: 150, duplicatesRemoved: 50, hash: 'h' };
    expect(frame({ corpus: { ...done, target: short } })).toContain(
      '\n          target NOT reached: 39.5M of 41.0M estimated tokens, short by 1.5M after 3 top-up rounds (3 top-up rounds spent)',
    );
    // While generation runs, the corpus child's progress says where it stands.
    expect(frame({}, { ...target, topUpRounds: 1 })).toContain(
      'target 41.0M estimated tokens: 39.5M at the last assembly, 1 top-up round so far',
    );
    expect(frame({ corpus: done })).not.toContain('target');
  });

  it('a sweep: points by status, the failed one with its error, the comparison once written', () => {
    const progress: SweepProgress = {
      paused: false,
      concurrency: 2,
      points: [
        { id: 'rules', values: { specVariant: 'rules' }, workflowId: 's.rules', status: 'done' },
        { id: 'full', values: { specVariant: 'full' }, workflowId: 's.full', status: 'failed', error: 'spec is empty' },
      ],
      comparison: { jsonUri: 'j', markdownUri: 'm', htmlUri: 'file:///c.html', compared: 1 },
    };
    const frame = renderWatch({ workflowId: 's', status: 'COMPLETED', elapsedMs: 3_700_000, progress });
    expect(frame).toContain('s — completed, 1h01m');
    expect(frame).toContain('points    1 done, 0 running, 1 failed, 0 pending of 2 (at most 2 at once) — done');
    expect(frame).toMatch(/full +failed +spec is empty/);
    expect(frame).toContain('comparison file:///c.html');
  });

  it('a retried training run: its attempt, why the last one failed, and a machine that does not answer', () => {
    const progress: ExperimentProgress = { stage: 'midtrain', paused: false, cells: [], sweepConcurrency: 1 };
    const frame = renderWatch({
      workflowId: 'w',
      status: 'RUNNING',
      elapsedMs: 1000,
      progress,
      training: [
        {
          label: 'midtrain',
          step: 40,
          totalSteps: 100,
          loss: 2,
          attempt: 3,
          lastFailure:
            'trainer job j exited with code 1 (failure 2 without a new checkpoint, of at most 3):\nValueError: x',
          unreachableSec: 75,
        },
        { label: 'msm-1of1-s0', step: 1, totalSteps: 8, attempt: 1 },
      ],
    });
    expect(frame).toContain('training  midtrain: step 40/100, loss 2.000, attempt 3, machine not answering for 1m15s');
    expect(frame).toContain(
      '          last failure: trainer job j exited with code 1 (failure 2 without a new checkpoint, of at most 3): ValueError: x',
    );
    expect(frame).toContain('training  msm-1of1-s0: step 1/8, loss —\n'); // a first attempt says nothing more
  });

  it('durations and ETAs', () => {
    expect(duration(59_400)).toBe('59s');
    expect(eta(1000, 0, 3)).toMatch(/unknown until the first finishes/);
    expect(eta(60_000, 1, 2)).toBe('ETA ~1m00s (from 1 finished)');
  });
});
