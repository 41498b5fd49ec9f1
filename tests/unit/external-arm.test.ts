import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeArm, resolveArms } from '../../src/config/arms';
import { experimentSchema, parseExperiment } from '../../src/config/experiment-schema';
import { evalKeyOf, sampleManifest } from '../../src/eval/sampling';
import type { EvalRequest } from '../../src/eval/types';
import { checkExperiment } from '../../src/experiment/check-experiment';
import { midtrainingRuns } from '../../src/plan/midtraining-runs';
import { buildResults } from '../../src/report/results';
import { smallReportInput } from '../helpers/report-input';

const released = { name: 'released', start: 'external' as const, aft: 'none' as const, model: 'hf:acme/aligned-8b@v1' };
const raw = (arms: unknown[], over: Record<string, unknown> = {}) => ({
  name: 'external',
  spec: 'specs/demo.md',
  store: 'file:///tmp/external-store',
  aft: { data: 'experiments/data/demo-aft.jsonl', arms, minSteps: 1 },
  eval: { prompts: 'experiments/data/demo-eval.jsonl' },
  ...over,
});
const problems = (arms: unknown[], over: Record<string, unknown> = {}) => {
  const r = experimentSchema.safeParse(raw(arms, over));
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('the external arm: a given model evaluated beside msm’s own runs', () => {
  it('names its model and is evaluated as given; no other arm names one', () => {
    expect(problems(['baseline', 'msm', released])).toEqual([]);
    const { model: _none, ...unnamed } = released;
    expect(problems(['baseline', unnamed])).toEqual([
      expect.stringMatching(
        /^aft\.arms\.1\.model: external arm "released" names no model: set model to a PEFT adapter/,
      ),
    ]);
    expect(problems(['baseline', { ...released, aft: 'data' }])).toEqual([
      expect.stringMatching(/external arm "released" is evaluated as given: set aft: none/),
    ]);
    expect(problems(['baseline', { name: 'mine', start: 'base', aft: 'data', model: '/m' }])[0]).toMatch(
      /arm "mine" starts from base: only an external arm \(start: external\) takes a model; remove it/,
    );
    // A serving engine serves msm's own models only.
    const engine = {
      prompts: 'experiments/data/demo-eval.jsonl',
      engine: { kind: 'openai', baseUrl: 'http://127.0.0.1:8000/v1' },
    };
    expect(problems(['baseline', released], { eval: engine })[0]).toMatch(/^eval\.engine: .*external arm "released"/);
    const arm = resolveArms([released])[0];
    expect(describeArm(arm)).toBe('the external model hf:acme/aligned-8b@v1, no AFT (control)');
    // Not a midtrained arm: evaluated once whatever midtrain.seeds says.
    const runs = midtrainingRuns(parseExperiment(raw(['baseline', 'msm', released], { midtrain: { seeds: [0, 1] } })), [
      arm,
    ]);
    expect(runs.cellsPerArm(arm)).toBe(1);
  });

  it('a local model is made absolute and must hold an adapter or a model; s3:// and hf: pass to the trainer', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-external-'));
    const adapter = path.join(dir, 'adapter');
    mkdirSync(adapter);
    writeFileSync(path.join(adapter, 'adapter_config.json'), '{}');
    const local = { ...released, model: path.relative(process.cwd(), adapter) };
    const checked = await checkExperiment(raw(['baseline', local]), 'x.yaml');
    expect(resolveArms(checked.experiment.aft.arms)[1].model).toBe(adapter);
    const hub = await checkExperiment(raw(['baseline', released]), 'x.yaml');
    expect(resolveArms(hub.experiment.aft.arms)[1].model).toBe('hf:acme/aligned-8b@v1');
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    const error = await checkExperiment(raw(['baseline', { ...released, model: empty }]), 'x.yaml').catch(
      (e: Error) => e,
    );
    expect(String(error)).toContain(`external arm "released": ${empty} holds neither adapter_config.json`);
  });

  it('the trainer is told the model; the eval key names it, so it never reuses another model’s samples', () => {
    const x = parseExperiment(raw(['baseline', released]));
    const req: EvalRequest = {
      storeUri: 'file:///s',
      label: 'eval-released-s0',
      modelUri: null,
      tokenizerUri: 'file:///tok.json',
      evalSet: { key: 'inputs/eval.jsonl', sha256: 'e', prompts: 2 },
      experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
      seed: 0,
    };
    const external = { ...req, externalModel: released.model };
    expect(evalKeyOf(external)).not.toBe(evalKeyOf(req));
    const uri = (k: string) => `file:///s/${k}`;
    expect(sampleManifest(external, 'j', uri, evalKeyOf(external))).toMatchObject({
      externalModel: released.model,
    });
    expect(sampleManifest(req, 'j', uri, evalKeyOf(req))).not.toHaveProperty('externalModel');
  });

  it('the report says what the control evaluated', () => {
    const input = smallReportInput();
    const r = buildResults({
      ...input,
      arms: [
        { name: 'baseline', start: 'base', aft: 'data' },
        { name: 'msm', start: 'msm', aft: 'data' },
        resolveArms([released])[0],
      ],
      controls: [
        {
          arm: 'released',
          seed: 0,
          modelUri: null,
          eval: { k: 2, n: 10, samplesUri: 'file:///e', judgeModel: 'judge' },
        },
      ],
    });
    const control = r.controls.find((c) => c.arm === 'released')!;
    expect(control.startsFrom).toBe('external model hf:acme/aligned-8b@v1');
    expect(control.description).toBe('the external model hf:acme/aligned-8b@v1, no AFT (control)');
  });
});
