import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import type { LoadedExperiment } from '../../src/config/loaded-experiment';
import {
  ARM_PRESETS,
  describeArm,
  needsMidtraining,
  needsPlacebo,
  placeboPairs,
  resolveArms,
  trainingName,
} from '../../src/config/arms';
import { parseExperiment } from '../../src/config/experiment-schema';
import { inputFiles } from '../../src/config/frozen-inputs';
import { midtrainHyper, placeboMatch } from '../../src/config/midtrain';
import { parseSpec } from '../../src/model-spec/parse-spec';
import { planFromDisk } from '../../src/plan/plan-inputs';
import { buildResults, type ReportInput } from '../../src/report/results';
import { lineageRows } from '../../src/report/tables';
import { runKeyOf } from '../../src/training/run-request';
import type { TrainRequest } from '../../src/training/types';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { calibrationResult } from '../helpers/calibration';

const minimal = { name: 'x', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };
const parseProblems = (over: Record<string, unknown>): string => {
  try {
    parseExperiment({ ...minimal, ...over }, 'f.yaml');
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

describe('the placebo arm', () => {
  it('starts from a placebo midtraining, trains on the AFT data like msm, and says what it controls for', () => {
    expect(ARM_PRESETS.placebo).toEqual({ name: 'placebo', start: 'placebo', aft: 'data' });
    expect(describeArm(ARM_PRESETS.placebo)).toBe(
      'the placebo midtraining (same tokens, unrelated spec) model, fine-tuned on the AFT data',
    );
    expect(needsPlacebo(resolveArms(['baseline', 'msm']))).toBe(false);
    expect(needsPlacebo(resolveArms(['baseline', 'placebo']))).toBe(true);
    // The placebo alone does not midtrain on the MSM corpus.
    expect(needsMidtraining(resolveArms(['baseline', 'placebo']))).toBe(false);
    // An arm object that trains what the preset trains shares its runs.
    expect(trainingName({ name: 'same-tokens', start: 'placebo', aft: 'data' })).toBe('placebo');
  });

  it('is contrasted with each msm arm that differs from it only in its start', () => {
    const arms = resolveArms([
      'baseline',
      'msm',
      'placebo',
      'msm-only',
      { name: 'placebo-only', start: 'placebo', aft: 'none' },
      { name: 'msm-spec', start: 'msm', aft: 'data', systemPrompt: 'spec' },
    ]);
    expect(placeboPairs(arms)).toEqual([['msm', 'placebo']]);
    expect(placeboPairs(resolveArms(['baseline', 'msm']))).toEqual([]);
  });

  it('midtrain.placeboSpec: refused without a placebo arm; never a hyper-parameter (run keys unchanged); frozen with the inputs', () => {
    expect(parseProblems({ midtrain: { placeboSpec: 'specs/placebo.md' } })).toContain(
      'midtrain.placeboSpec: no arm starts from placebo, so nothing reads midtrain.placeboSpec: add the placebo arm or remove it',
    );
    const over = { midtrain: { placeboSpec: 'p.md' }, aft: { data: 'a.jsonl', arms: ['baseline', 'msm', 'placebo'] } };
    expect(parseProblems(over)).toBe('');
    const x = parseExperiment({ ...minimal, ...over });
    const plain = parseExperiment(minimal);
    expect(midtrainHyper(x.midtrain)).toEqual(midtrainHyper(plain.midtrain));
    expect(midtrainHyper(x.midtrain)).not.toHaveProperty('placeboSpec');
    const req = (hyper: TrainRequest['hyper']) =>
      ({
        kind: 'midtrain',
        storeUri: 'file:///s',
        label: 'midtrain',
        data: { sha256: 'd' },
        seed: 0,
        experiment: { baseModel: plain.baseModel, compute: plain.compute },
        hyper,
      }) as TrainRequest;
    expect(runKeyOf(req(midtrainHyper(x.midtrain)))).toBe(runKeyOf(req(midtrainHyper(plain.midtrain))));
    expect(inputFiles(x)).toContainEqual({ field: 'midtrain.placeboSpec', path: 'p.md' });
  });

  it('the memory plan checks the midtraining job when only a placebo arm midtrains', () => {
    const jobsOf = (arms: string[]) =>
      planFromDisk(parseExperiment({ ...minimal, aft: { data: 'a.jsonl', arms } }), PROJECT_ROOT).jobs.map(
        (j) => j.job,
      );
    expect(jobsOf(['baseline', 'placebo'])).toEqual(['midtrain', 'aft', 'eval generate']);
    expect(jobsOf(['baseline'])).toEqual(['aft', 'eval generate']);
  });

  it('records how the placebo tokens were matched to the MSM corpus, and any shortfall', () => {
    expect(placeboMatch(1000, 1000)).toEqual({ targetTokens: 1000, placeboTokens: 1000, short: 0 });
    expect(placeboMatch(1000, 940)).toEqual({ targetTokens: 1000, placeboTokens: 940, short: 60 });
  });

  it('ships a neutral spec of similar length: no AI values, safety, oversight or the eval scenarios', () => {
    const text = readFileSync(path.join(PROJECT_ROOT, 'specs', 'placebo.md'), 'utf8');
    const msm = readFileSync(path.join(PROJECT_ROOT, 'specs', 'self-preservation.md'), 'utf8');
    const words = (t: string) => t.split(/\s+/).length;
    expect(words(text) / words(msm)).toBeGreaterThan(0.8);
    expect(words(text) / words(msm)).toBeLessThan(1.25);
    expect(parseSpec(text, 'placebo.md').sections.length).toBeGreaterThanOrEqual(5);
    expect(text).not.toMatch(
      /shut ?down|oversight|safety|weights|blackmail|leverage|exfiltrat|self-preserv|goal|value|honest|deceiv|manipulat|replace|monitor/i,
    );
  });
});

describe('loading a placebo experiment', () => {
  const load = (raw: unknown): Promise<LoadedExperiment> =>
    new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-placebo-'));
  const raw = (midtrain: Record<string, unknown> = {}, arms: unknown[] = ['baseline', 'msm', 'placebo']) => ({
    name: 'placebo',
    spec: 'specs/demo.md',
    store: path.join(dir, 'store'),
    midtrain,
    aft: { data: 'experiments/data/demo-aft.jsonl', arms, minSteps: 1 },
    eval: { prompts: 'experiments/data/demo-eval.jsonl' },
  });

  it('stores the shipped placebo spec under its own hash when no other is named', async () => {
    const loaded = await load(raw());
    expect(loaded.placeboSpec).toMatchObject({
      title: 'House Style for Technical Writing',
      path: path.join(PROJECT_ROOT, 'specs', 'placebo.md'),
    });
    expect(loaded.placeboSpec!.hash).not.toBe(loaded.spec.hash);
    expect(loaded.placeboSpec!.key).toBe(`inputs/spec-${loaded.placeboSpec!.hash.slice(0, 16)}.md`);
    expect((await load(raw({}, ['baseline', 'msm']))).placeboSpec).toBeUndefined();
  });

  it('refuses a placebo spec that cannot be read or is the experiment spec, saying what to set', async () => {
    await expect(load(raw({ placeboSpec: 'specs/missing-placebo.md' }))).rejects.toThrow(
      /a placebo arm midtrains on documents about an unrelated spec, and it cannot be read: midtrain\.placeboSpec: cannot read .*missing-placebo\.md.*set midtrain\.placeboSpec to a spec file/,
    );
    await expect(load(raw({ placeboSpec: 'specs/demo.md' }))).rejects.toThrow(
      /midtrain\.placeboSpec: specs\/demo\.md is the experiment's own spec; a placebo needs an unrelated spec/,
    );
  });
});

describe('the placebo in the report', () => {
  const cell = (arm: string, k: number, seed: number) => ({
    arm,
    fraction: 1,
    seed,
    trainFinalLoss: 1,
    modelUri: `file:///runs/${arm}-${seed}`,
    eval: { k, n: 100, samplesUri: 's', judgeModel: 'judge' },
  });
  const input = {
    experiment: {
      name: 'p',
      workflowId: 'wf-p',
      specTitle: 'Demo',
      specHash: 'demo-hash',
      specVariant: 'full',
      baseModel: 'tiny',
      corpus: {
        documents: 10,
        tokens: 5000,
        hash: 'msm-corpus',
        truncated: 0,
        truncatedDropped: 0,
        duplicatesRemoved: 0,
        documentCostUsd: 0,
      },
      midtrain: { finalLoss: 1, steps: 3, checkpoint: 'file:///runs/midtrain' },
      placebo: {
        spec: { title: 'House Style for Technical Writing', hash: 'placebo-hash' },
        corpus: { documents: 12, hash: 'placebo-corpus' },
        match: placeboMatch(5000, 5000),
        midtrain: { finalLoss: 1.2, steps: 3, checkpoint: 'file:///runs/midtrain-placebo' },
      },
      evalSet: { sha256: 'e', prompts: 100 },
    },
    arms: resolveArms(['baseline', 'msm', 'placebo']),
    cells: [0, 1].flatMap((s) => [cell('baseline', 40, s), cell('msm', 10, s), cell('placebo', 38, s)]),
    calibration: calibrationResult(),
    generatedAt: '2026-12-06T00:00:00Z',
  } as ReportInput;

  it('lists placebo cells from the placebo checkpoint, contrasts msm with placebo, and states the token match', () => {
    const r = buildResults(input);
    expect(r.cells.filter((c) => c.arm === 'placebo').map((c) => c.startsFrom)).toEqual([
      'file:///runs/midtrain-placebo',
      'file:///runs/midtrain-placebo',
    ]);
    expect(r.arms.find((a) => a.name === 'placebo')!.description).toContain('same tokens, unrelated spec');
    const pairs = r.differences.map((d) => `${d.arm}-${d.versus}:${d.role}`);
    expect(pairs).toEqual(['msm-baseline:primary', 'placebo-baseline:secondary', 'msm-placebo:secondary']);
    const msmVsPlacebo = r.differences.find((d) => d.versus === 'placebo')!;
    expect(msmVsPlacebo.pooled!.estimate).toBeCloseTo(-0.28, 6);
    expect(msmVsPlacebo.pHolm).not.toBeNull();
    expect(r.lineage.placebo!.match).toEqual({ targetTokens: 5000, placeboTokens: 5000, short: 0 });
    const row = lineageRows(r).find(([k]) => k === 'placebo midtraining')![1];
    expect(row).toContain("cut at the MSM corpus's 5000 tokens to 5000");
    expect(row).toContain('file:///runs/midtrain-placebo');
  });

  it('declaring placebo the reference makes msm − placebo the primary contrast, without repeating it', () => {
    const r = buildResults({ ...input, analysis: { primary: { versus: 'placebo' } } });
    expect(r.differences.map((d) => `${d.arm}-${d.versus}:${d.role}`)).toEqual([
      'msm-placebo:primary',
      'baseline-placebo:secondary',
    ]);
  });
});
