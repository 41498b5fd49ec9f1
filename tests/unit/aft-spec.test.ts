import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExperimentActivities } from '../../src/activities/experiment-activities';
import { aftDataPrefix } from '../../src/aft-data/keys';
import { aftDataSource } from '../../src/config/aft-source';
import { experimentSchema, parseExperiment } from '../../src/config/experiment-schema';
import { inputFiles } from '../../src/config/frozen-inputs';
import type { LoadedExperiment } from '../../src/config/loaded-experiment';
import { checkExperiment } from '../../src/experiment/check-experiment';
import { costPlanFromDisk } from '../../src/experiment/cost-inputs';
import { buildResults, type ReportInput } from '../../src/report/results';
import { lineageRows } from '../../src/report/tables';
import { loadSweepFile } from '../../src/sweep/load-sweep-file';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { smallReportInput } from '../helpers/report-input';

const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-aft-spec-'));
const raw = (generate: Record<string, unknown> | null) => ({
  name: 'aft-spec',
  spec: 'specs/demo.md',
  store: path.join(dir, 'store'),
  aft: generate
    ? { generate: { count: 24, ...generate }, minSteps: 1 }
    : { data: 'experiments/data/demo-aft.jsonl', minSteps: 1 },
  eval: { prompts: 'experiments/data/demo-eval.jsonl' },
});
const load = (r: unknown): Promise<LoadedExperiment> =>
  new MockActivityEnvironment().run(createExperimentActivities().loadExperiment, r);

describe('aft.generate.spec: the AFT data from another spec than the midtraining one', () => {
  it('is an input file, frozen with the others; the path is not identity, the content is', () => {
    const x = parseExperiment(raw({ spec: 'specs/cheese-america.md' }));
    expect(inputFiles(x)).toContainEqual({ field: 'aft.generate.spec', path: 'specs/cheese-america.md' });
    expect(inputFiles(parseExperiment(raw({}))).map((f) => f.field)).not.toContain('aft.generate.spec');
    // The AFT data's store folder hashes the spec's content (specHash), never the path: with the same hash
    // the folder is the one recorded for data generated from the experiment's spec (model-identity.test.ts).
    const plain = experimentSchema.parse({ ...raw({}), aft: { generate: {} } }).aft.generate!;
    const specHash = 'a'.repeat(64);
    const job = (generate: typeof plain, hash = specHash) => ({
      storeUri: 's',
      specKey: 'k',
      specHash: hash,
      generate,
    });
    expect(aftDataPrefix(job({ ...plain, spec: 'specs/other.md' }))).toBe('aftdata/f4dc29992d6995ee');
    expect(aftDataPrefix(job(plain, 'b'.repeat(64)))).not.toBe('aftdata/f4dc29992d6995ee');
  });

  it('loads: stored under its own hash with its path; unset, the experiment spec again; aft.data, none', async () => {
    const other = await load(raw({ spec: 'specs/cheese-america.md' }));
    expect(other.aftSpec).toMatchObject({ path: 'specs/cheese-america.md' });
    expect(other.aftSpec!.title).toMatch(/cheese/i);
    expect(other.aftSpec!.hash).not.toBe(other.spec.hash);
    expect(other.aftSpec!.key).toBe(`inputs/spec-${other.aftSpec!.hash.slice(0, 16)}.md`);

    const own = await load(raw({}));
    // The same key and hash as the spec: the aft-data child's job, and so its folder, are as before.
    expect(own.aftSpec).toEqual({ key: own.spec.key, hash: own.spec.hash, title: own.spec.title });
    expect(own.spec.hash).toBe(other.spec.hash);

    expect((await load(raw(null))).aftSpec).toBeUndefined();
  });

  it('is read whole: specVariant shapes the midtraining spec only', async () => {
    const rules = await load({ ...raw({ spec: 'specs/demo.md' }), specVariant: 'rules' });
    const whole = await load(raw({}));
    expect(rules.spec.hash).not.toBe(whole.spec.hash);
    expect(rules.aftSpec!.hash).toBe(whole.spec.hash);
  });

  it('msm validate and msm plan say where the AFT data comes from', async () => {
    const x = parseExperiment(raw({ spec: 'specs/cheese-america.md', style: 'rule' }));
    expect(aftDataSource(x, 'Cheese')).toBe(
      'generated from aft.generate.spec specs/cheese-america.md ("Cheese"), not the midtraining spec specs/demo.md: 24 examples, rule style',
    );
    expect(aftDataSource(parseExperiment(raw({})))).toBe(
      "generated from the experiment's spec specs/demo.md (variant full): 24 examples, value style",
    );
    expect(aftDataSource(parseExperiment(raw(null)))).toBe('the file experiments/data/demo-aft.jsonl');
    const checked = await checkExperiment(raw({ spec: 'specs/cheese-america.md' }), 'x.yaml');
    expect(checked.aftSpec!.path).toBe('specs/cheese-america.md');
  });

  it("the plan prices the AFT data's prompts with the AFT spec's length", () => {
    const aftStage = (generate: Record<string, unknown>) =>
      costPlanFromDisk(parseExperiment(raw(generate)), PROJECT_ROOT).stages.find((s) => s.stage === 'aft data')!;
    // specs/self-preservation.md is over twice as long as specs/demo.md: its prompts carry more tokens.
    expect(aftStage({ spec: 'specs/self-preservation.md' }).inputTokens!).toBeGreaterThan(aftStage({}).inputTokens!);
  });
});

describe('the MSM spec × AFT spec factorial (experiments/spec-factorial.yaml)', () => {
  it('loads as a sweep of 4 points, each valid as msm validate checks it, every cell of the 2 × 2 once', async () => {
    const { points } = loadSweepFile(path.join(PROJECT_ROOT, 'experiments', 'spec-factorial.yaml'));
    expect(points).toHaveLength(4);
    // The ids the file's comment lists, (1) to (4).
    expect(points.map((p) => p.id)).toEqual([
      'specs-cheese-america.md_specs-cheese-america.md',
      'specs-cheese-america.md_h804d2c33',
      'h804d2c33_specs-cheese-america.md',
      'h804d2c33_h804d2c33',
    ]);
    const specs = ['specs/cheese-america.md', 'specs/cheese-affordability.md'];
    const cells = points.map((p) => [p.experiment.spec, p.experiment.aft.generate!.spec]);
    expect(cells).toEqual(specs.flatMap((msm) => specs.map((aft) => [msm, aft])));
    for (const p of points) {
      const checked = await checkExperiment(p.experiment, p.id);
      expect(checked.aftSpec!.path).toBe(p.experiment.aft.generate!.spec);
      expect(checked.experiment.aft.arms).toEqual(['baseline', 'msm']);
    }
  }, 60_000);
});

describe('the AFT spec and the tokenizer in results.json', () => {
  const input = (over: Partial<ReportInput['experiment']>) =>
    smallReportInput(
      { specTitle: 'Demo', specHash: 'demo-hash', aftData: { sha256: 'aft-sha', examples: 24 }, ...over },
      [
        {
          arm: 'msm',
          fraction: 1,
          seed: 0,
          trainFinalLoss: 1,
          modelUri: 'file:///runs/msm',
          eval: { k: 1, n: 10, samplesUri: 's', judgeModel: 'judge' },
        },
      ],
    );

  it('records which spec the AFT data came from and the tokenizer, and the lineage table shows both', () => {
    const aftSpec = { title: 'Cheese', hash: 'cheese-hash', key: 'inputs/spec-cheese.md', path: 'specs/cheese.md' };
    const tokenizer = { name: 'llama3.1', sha256: 'f'.repeat(64) };
    const r = buildResults(input({ aftSpec, tokenizer }));
    expect(r.lineage.aftSpec).toEqual(aftSpec);
    expect(r.lineage.tokenizer).toEqual(tokenizer);
    const rows = Object.fromEntries(lineageRows(r));
    expect(rows['AFT data']).toBe(
      '24 examples — sha256 aft-sha; generated from "Cheese" (aft.generate.spec specs/cheese.md; spec hash cheese-hash, text inputs/spec-cheese.md)',
    );
    expect(rows.tokenizer).toBe(`llama3.1 — sha256 ${'f'.repeat(64)}`);
    const own = buildResults(input({ aftSpec: { title: 'Demo', hash: 'demo-hash', key: 'inputs/spec-demo.md' } }));
    expect(Object.fromEntries(lineageRows(own))['AFT data']).toContain(
      `generated from "Demo" (the experiment's spec; spec hash demo-hash`,
    );
  });

  it('older results (a file, or a run before these were recorded) read as before', () => {
    const r = buildResults(input({}));
    expect(r.lineage).not.toHaveProperty('aftSpec');
    expect(r.lineage).not.toHaveProperty('tokenizer');
    const rows = Object.fromEntries(lineageRows(r));
    expect(rows['AFT data']).toBe('24 examples — sha256 aft-sha');
    expect(rows).not.toHaveProperty('tokenizer');
  });
});
