import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import type { LoadedExperiment } from '../../src/activities/types';
import {
  ARM_PRESETS,
  armLines,
  describeArm,
  isControl,
  needsMidtraining,
  resolveArms,
  trainingName,
} from '../../src/config/arms';
import { parseExperiment } from '../../src/config/experiment-schema';
import { reportArms } from '../../src/report/arms';
import { runMsmInProcess } from '../helpers/msm-cli';

const minimal = { name: 'x', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };
const problems = (aft: Record<string, unknown>): string => {
  try {
    parseExperiment({ ...minimal, aft: { data: 'a.jsonl', ...aft } }, 'f.yaml');
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

describe('arms as data', () => {
  it("keeps baseline and msm meaning what they meant, and adds the paper's other arms and controls", () => {
    expect(ARM_PRESETS.baseline).toEqual({ name: 'baseline', start: 'base', aft: 'data' });
    expect(ARM_PRESETS.msm).toEqual({ name: 'msm', start: 'msm', aft: 'data' });
    expect(ARM_PRESETS.deliberative).toEqual({ name: 'deliberative', start: 'base', aft: 'with-reasoning' });
    expect(isControl(ARM_PRESETS['msm-only'])).toBe(true);
    expect(isControl(ARM_PRESETS.base)).toBe(true);
    expect(ARM_PRESETS['spec-in-context']).toMatchObject({ start: 'base', aft: 'data', systemPrompt: 'spec' });
  });

  it('accepts preset names and full arm objects side by side; the parsed list stays as written', () => {
    const arms = ['baseline', { name: 'msm-deliberative', start: 'msm', aft: 'with-reasoning' }, 'base'];
    const x = parseExperiment({ ...minimal, aft: { data: 'a.jsonl', reasoningData: 'r.jsonl', arms } });
    expect(x.aft.arms).toEqual(arms);
    expect(resolveArms(x.aft.arms).map((a) => `${a.name}:${a.start}:${a.aft}`)).toEqual([
      'baseline:base:data',
      'msm-deliberative:msm:with-reasoning',
      'base:base:none',
    ]);
  });

  it('runs midtraining only when an arm starts from it', () => {
    expect(needsMidtraining(resolveArms(['baseline', 'deliberative', 'base']))).toBe(false);
    expect(needsMidtraining(resolveArms(['baseline', 'msm-only']))).toBe(true);
  });

  it("trains arms that train the same model once, under the preset's name (its workflow ids and artifact keys)", () => {
    expect(trainingName(ARM_PRESETS['spec-in-context'])).toBe('baseline');
    expect(trainingName(ARM_PRESETS.msm)).toBe('msm');
    expect(trainingName({ name: 'msm-deliberative', start: 'msm', aft: 'with-reasoning' })).toBe('msm-deliberative');
  });

  it('refuses unknown names, duplicates, presets redefined and an all-control list, naming the field', () => {
    expect(problems({ arms: ['baseline', 'msm-plus'] })).toMatch(
      /aft\.arms\.1: unknown arm "msm-plus": use a preset \(baseline, msm, deliberative, msm-reasoning, msm-only, base, spec-in-context, placebo\)/,
    );
    expect(problems({ arms: ['baseline', 'msm', 'baseline'] })).toContain('aft.arms.2: arm "baseline" is listed twice');
    expect(problems({ arms: ['baseline', { name: 'msm', start: 'base', aft: 'data' }] })).toContain(
      'aft.arms.1.name: "msm" is a preset arm',
    );
    expect(problems({ arms: [{ aft: 'data', name: 'msm', start: 'msm' }] })).toBe(''); // the preset, written out
    expect(problems({ arms: ['base', 'msm-only'] })).toContain('every arm is a control');
    expect(problems({ arms: [{ name: 'x', start: 'sft', aft: 'data' }] })).toMatch(/aft\.arms\.0/);
  });

  it('asks for the with-reasoning data a deliberative arm trains on, by the field to set', () => {
    expect(problems({ arms: ['baseline', 'deliberative'] })).toContain(
      'aft.reasoningData: arm "deliberative" trains on spec-citing reasoning: set aft.reasoningData',
    );
    expect(problems({ arms: ['baseline', 'deliberative'], reasoningData: 'r.jsonl' })).toBe('');
    const generate = { provider: { kind: 'local' }, count: 10 };
    const gen = (g: Record<string, unknown>) =>
      problems({ data: undefined, generate: { ...generate, ...g }, arms: ['baseline', 'msm', 'deliberative'] });
    expect(gen({ style: 'rule', train: 'without-reasoning' })).toBe('');
    expect(gen({ style: 'value', train: 'without-reasoning' })).toContain(
      'aft.generate.style: arm "deliberative" is deliberative-style training',
    );
    expect(gen({ style: 'rule', train: 'with-reasoning' })).toContain(
      'aft.generate.train: arms "baseline" and "deliberative" would train on the same with-reasoning file',
    );
    expect(problems({ data: undefined, generate, reasoningData: 'r.jsonl' })).toContain(
      'aft.reasoningData goes with aft.data',
    );
  });
});

describe('loading aft.reasoningData', () => {
  const load = (raw: unknown): Promise<LoadedExperiment> =>
    new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, raw);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-reasoning-'));
  const demo = readFileSync(path.join(__dirname, '..', '..', 'experiments', 'data', 'demo-aft.jsonl'), 'utf8')
    .trim()
    .split('\n');
  const withThink = (lines: string[]) =>
    lines
      .map((l) => {
        const x = JSON.parse(l) as { messages: Array<{ role: string; content: string }> };
        x.messages[1].content = `<think>The spec says so.</think>\n\n${x.messages[1].content}`;
        return JSON.stringify(x);
      })
      .join('\n') + '\n';
  const raw = (reasoningData: string) => ({
    name: 'reasoning',
    spec: 'specs/demo.md',
    store: path.join(dir, 'store'),
    aft: { data: 'experiments/data/demo-aft.jsonl', reasoningData, arms: ['baseline', 'deliberative'], minSteps: 1 },
    eval: { prompts: 'experiments/data/demo-eval.jsonl' },
  });

  it('stores the with-reasoning file for the deliberative arm', async () => {
    writeFileSync(path.join(dir, 'full.jsonl'), withThink(demo));
    const loaded = await load(raw(path.join(dir, 'full.jsonl')));
    expect(loaded.reasoningData).toMatchObject({ examples: demo.length });
    expect(loaded.reasoningData!.sha256).not.toBe(loaded.aftData!.sha256);
  });

  it('refuses a with-reasoning file of another length: the data budget per fraction must be the same', async () => {
    writeFileSync(path.join(dir, 'short.jsonl'), withThink(demo.slice(0, 10)));
    await expect(load(raw(path.join(dir, 'short.jsonl')))).rejects.toThrow(
      /aft\.reasoningData: .* has 10 examples but aft\.data has 24/,
    );
  });
});

describe('how an arm is described in every output', () => {
  const SFT_ONLY = 'AFT with spec-citing reasoning (the SFT stage of deliberative alignment)';
  const NO_RL = 'the spec-graded RL stage is not implemented (it may come later)';

  it('deliberative is the SFT stage of deliberative alignment, and says its RL stage is not implemented', () => {
    const [deliberative, msmReasoning] = resolveArms(['deliberative', 'msm-reasoning']);
    expect(describeArm(deliberative)).toBe(`the base model, ${SFT_ONLY} in a <think> block; ${NO_RL}`);
    expect(describeArm(msmReasoning)).toBe(`the midtrained model, ${SFT_ONLY} in a <think> block; ${NO_RL}`);
    expect(armLines([deliberative])).toEqual([`deliberative: ${describeArm(deliberative)}`]);
  });

  it("the report's arms, the schema's description and the JSON Schema say the same", () => {
    const arms = reportArms(resolveArms(['baseline', 'deliberative']), []);
    expect(arms.find((a) => a.name === 'deliberative')!.description).toContain(SFT_ONLY);
    expect(arms.find((a) => a.name === 'deliberative')!.description).toContain(NO_RL);
    const schema = readFileSync(path.join(__dirname, '..', '..', 'experiments', 'experiment.schema.json'), 'utf8');
    const described = (JSON.parse(schema) as { properties: { aft: { properties: { arms: { description: string } } } } })
      .properties.aft.properties.arms.description;
    expect(described).toContain(`deliberative is ${SFT_ONLY}`);
    expect(described).toContain('msm-reasoning');
    expect(described).toContain(NO_RL);
  });

  it('msm validate and msm plan list every arm with its description', async () => {
    const file = path.join(__dirname, '..', '..', 'experiments', 'paper-llama-8b.yaml');
    const validate = await runMsmInProcess(['validate', file]);
    expect(validate.status, validate.stderr).toBe(0);
    expect(validate.stdout).toContain(`  arm deliberative: the base model, ${SFT_ONLY} in a <think> block; ${NO_RL}`);
    expect(validate.stdout).toContain('  arm msm-only: the midtrained model, no AFT (control)');
    const plan = await runMsmInProcess(['plan', file]);
    expect(plan.status, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`arm deliberative: the base model, ${SFT_ONLY} in a <think> block; ${NO_RL}`);
    const json = await runMsmInProcess(['plan', '--json', file]);
    expect((JSON.parse(json.stdout) as { arms: Array<{ name: string }> }).arms.map((a) => a.name)).toEqual([
      'baseline',
      'msm',
      'deliberative',
      'msm-only',
    ]);
  }, 60_000);
});

describe('msm-reasoning: the MSM × chain-of-thought 2 × 2', () => {
  it('starts from the midtrained model and trains on spec-citing reasoning, under its own training name', () => {
    expect(ARM_PRESETS['msm-reasoning']).toEqual({ name: 'msm-reasoning', start: 'msm', aft: 'with-reasoning' });
    expect(needsMidtraining(resolveArms(['baseline', 'msm-reasoning']))).toBe(true);
    expect(isControl(ARM_PRESETS['msm-reasoning'])).toBe(false);
    // The training names recorded histories use do not move.
    expect(['baseline', 'msm', 'deliberative', 'spec-in-context'].map((n) => trainingName(ARM_PRESETS[n]))).toEqual([
      'baseline',
      'msm',
      'deliberative',
      'baseline',
    ]);
    expect(trainingName(ARM_PRESETS['msm-reasoning'])).toBe('msm-reasoning');
    expect(trainingName({ name: 'msm-deliberative', start: 'msm', aft: 'with-reasoning' })).toBe('msm-deliberative');
  });

  it('the 2 × 2 with baseline, msm and deliberative validates on generated data, and asks for what it needs', () => {
    const arms = ['baseline', 'msm', 'deliberative', 'msm-reasoning'];
    const generate = { provider: { kind: 'local' }, count: 10, style: 'rule', train: 'without-reasoning' };
    expect(problems({ data: undefined, generate, arms })).toBe('');
    expect(problems({ arms: ['baseline', 'msm-reasoning'] })).toContain(
      'aft.reasoningData: arm "msm-reasoning" trains on spec-citing reasoning',
    );
    expect(problems({ arms: [{ name: 'msm-reasoning', start: 'base', aft: 'data' }] })).toContain(
      'aft.arms.0.name: "msm-reasoning" is a preset arm',
    );
  });
});
