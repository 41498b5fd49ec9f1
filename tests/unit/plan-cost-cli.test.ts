import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import type { CostPlan } from '../../src/plan/cost';
import { demoExperiment } from '../helpers/demo-experiment';
import { runMsm, runMsmInProcess } from '../helpers/msm-cli';

/**
 * `msm plan` / `validate` in this process (the CLI's runCli), `msm start` as a real process, through the entry
 * point's exit status (no Temporal server: the refusal comes first).
 */
// Nothing listens there: a start that got past the budget check would fail to connect, not exit 3.
const env = { TEMPORAL_ADDRESS: '127.0.0.1:9' };
const cli = (...args: string[]) => runMsmInProcess(args, env);

const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-plan-cost-'));
/** The demo design with a priced judge: $1,000 per million tokens makes its 64 judge calls cost dollars. */
const priced = (budget?: number) => {
  const file = path.join(dir, `x${budget ?? 'none'}.yaml`);
  writeFileSync(
    file,
    YAML.stringify({
      ...demoExperiment('plan-cost', path.join(dir, 'store')),
      eval: {
        prompts: 'experiments/data/demo-eval.jsonl',
        judge: {
          kind: 'openai',
          baseUrl: 'http://127.0.0.1:9/v1',
          model: 'judge',
          price: { inputPerMillion: 1000, outputPerMillion: 1000 },
        },
      },
      ...(budget !== undefined ? { budget: { totalUsd: budget } } : {}),
    }),
  );
  return file;
};

describe('msm plan: hours and dollars', () => {
  it('experiments/paper-qwen3-32b.yaml: per-stage and total GPU-hours, API dollars and wall clock', async () => {
    const r = await cli('plan', 'experiments/paper-qwen3-32b.yaml');
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(
      /^stage\s+LLM calls\s+tokens in \/ out\s+GPU tokens\s+GPU-hours\s+tok\/s\/GPU\s+USD\s+wall clock$/m,
    );
    for (const s of ['corpus', 'aft data', 'judging', 'judge calibration'])
      expect(out).toMatch(
        new RegExp(`^${s}\\s+[\\d.]+[kMB]?\\s+[\\d.]+[kMB]? / [\\d.]+[kMB]?\\s+\\$[\\d,.]+\\s+[\\d.]+ (min|h|d)$`, 'm'),
      );
    for (const s of ['midtraining', 'aft training', 'eval sampling'])
      expect(out).toMatch(
        new RegExp(`^${s}\\s+[\\d.]+[kMB]?\\s+[\\d.]+\\s+[\\d.]+[kMB]?\\*?\\s+\\$[\\d,.]+\\s+[\\d.]+ (min|h|d)$`, 'm'),
      );
    expect(out).toMatch(/^total\s+API \$[\d,.]+\s+[\d.]+\s+\$[\d,.]+\s+[\d.]+ (min|h|d)$/m);
    expect(out).toMatch(/GPU-hours [\d.]+ \(\$[\d,]+\), API dollars \$[\d,.]+, wall clock [\d.]+ (h|d)/);
    // The paper's scale: generation.targetTokens 41M → 61 units × 10 types × 20 ideas, 55 cells.
    expect(out).toMatch(
      /counts: 12200 documents \(41\.5M corpus tokens\), 9600 AFT examples, 54 trained cells, 55 evaluated × 8100 samples = 445500 judged/,
    );
    expect(out).toMatch(
      /61 units × 10 types × 20 ideas = 12200 documents \(units from generation\.targetTokens 41\.0M/,
    );
    // Which rates are measured: 32B LoRA is (a same-size row), sampling is not.
    expect(out).toMatch(/midtraining: measured 2026-11-28 on qwen2\.5-32b \(same size\)/);
    expect(out).toMatch(/eval sampling: not measured: estimate/);
    expect(out).toMatch(/judge: no price in the file or the table, planned at claude-sonnet-4-5/);
  }, 60_000);

  it('--json gives the same plan, every stage and the assumptions', async () => {
    const r = await cli('plan', 'experiments/paper-qwen3-32b.yaml', '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { fits: boolean; cost: CostPlan; aftData: string };
    expect(j.fits).toBe(true);
    expect(j.aftData).toMatch(
      /^generated from the experiment's spec specs\/self-preservation\.md \(variant full\): \d+ examples/,
    );
    expect(j.cost.stages.map((s) => s.stage)).toEqual([
      'corpus',
      'aft data',
      'judging',
      'judge calibration',
      'midtraining',
      'aft training',
      'eval sampling',
    ]);
    const sum = j.cost.stages.reduce((n, s) => n + s.usd, 0);
    expect(j.cost.total.usd).toBeCloseTo(sum, 6);
    expect(j.cost.counts.corpusTokens).toBeGreaterThan(38e6);
    expect(j.cost.counts.corpusTokens).toBeLessThan(44e6);
    expect(j.cost.assumptions.documentShareOfMax).toBe(0.68);
  }, 60_000);
});

describe('budget.totalUsd refuses a start above the plan', () => {
  it('msm plan and msm validate exit 3 naming each stage; within the budget both pass', async () => {
    const over = priced(1);
    const plan = await cli('plan', over);
    expect(plan.status, plan.stderr).toBe(3);
    expect(plan.stdout).toMatch(/budget\.totalUsd \$1\.00: OVER/);
    const v = await cli('validate', over);
    expect(v.status, v.stdout).toBe(3);
    expect(v.stderr).toMatch(
      /the planned cost \$[\d,.]+ exceeds budget\.totalUsd \$1\.00 \(API \$[\d,.]+, GPU \$[\d,.]+: corpus \$0\.00, judging \$[\d,.]+, judge calibration \$[\d,.]+/,
    );
    expect(v.stderr).toMatch(/Raise budget\.totalUsd, or shrink the design/);
    const ok = await cli('validate', priced(1e6));
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(
      /planned: API \$[\d,.]+, [\d.]+ GPU-hours \(\$[\d,.]+\), total \$[\d,.]+ of budget\.totalUsd \$1000000/,
    );
  }, 120_000);

  it('msm start (a real process) refuses before freezing or connecting (exit 3), and loadExperiment refuses it non-retryably', async () => {
    const over = priced(1);
    const s = runMsm(['start', over], env);
    expect(s.status, s.stderr).toBe(3);
    expect(s.stderr).toMatch(/exceeds budget\.totalUsd/);
    const raw = YAML.parse((await import('node:fs')).readFileSync(over, 'utf8')) as Record<string, unknown>;
    const failure = await new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).nonRetryable).toBe(true);
    expect((failure as Error).message).toMatch(/exceeds budget\.totalUsd/);
  }, 120_000);
});
