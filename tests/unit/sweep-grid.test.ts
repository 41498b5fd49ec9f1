import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandSweep, gridPoints, InvalidSweepError, pointExperiment } from '../../src/sweep/grid';
import { sweepJsonSchema } from '../../src/sweep/json-schema';
import { loadSweepFile } from '../../src/sweep/load-sweep-file';
import { SWEEP_LIMITS, sweepFileSchema, sweepInputSchema, type SweepInput } from '../../src/sweep/sweep-schema';
import { PROJECT_ROOT } from '../../src/util/project-paths';

const minimal = { name: 'b', spec: 'specs/demo.md', aft: { data: 'a.jsonl' }, eval: { prompts: 'e.jsonl' } };

describe('sweep grids', () => {
  it('every combination, first axis slowest, minus excluded points, plus included ones; ids from the values', () => {
    const points = gridPoints({
      axes: { specVariant: ['rules', 'rules+values'], 'aft.generate.style': ['rule', 'value'] },
      exclude: [{ specVariant: 'rules', 'aft.generate.style': 'value' }],
      include: [{ specVariant: 'full', 'aft.generate.style': 'rule' }],
    });
    expect(points.map((p) => p.id)).toEqual(['rules_rule', 'rules-values_rule', 'rules-values_value', 'full_rule']);
    expect(points[1].values).toEqual({ specVariant: 'rules+values', 'aft.generate.style': 'rule' });
    // Same sweep, same ids: a re-run re-attaches to the same child workflows.
    const plain = (axes: SweepInput['axes']) => gridPoints({ axes, include: [], exclude: [] });
    expect(
      plain({ specVariant: ['rules', 'rules+values'], 'aft.generate.style': ['rule', 'value'] }).map((p) => p.id),
    ).toContain('rules-values_value');
    // Values that slug alike still get distinct ids.
    expect(new Set(plain({ specVariant: ['a b', 'a-b'] }).map((p) => p.id)).size).toBe(2);
  });

  it('sets each value at its path in a copy of the base and names the point', () => {
    const x = pointExperiment(minimal, 'sci', {
      id: 'v',
      values: { specVariant: 'rules', 'aft.seeds': [0, 1], 'midtrain.lr': 0.01 },
    });
    expect(x).toMatchObject({
      name: 'sci-v',
      specVariant: 'rules',
      aft: { data: 'a.jsonl', seeds: [0, 1] },
      midtrain: { lr: 0.01 },
    });
    expect(minimal).not.toHaveProperty('specVariant');
  });

  it('refuses, before anything starts, a path the experiment does not have and a value it does not accept', () => {
    const sweep = (axes: SweepInput['axes']): SweepInput => ({
      name: 's',
      base: minimal,
      axes,
      include: [],
      exclude: [],
      concurrency: 1,
    });
    expect(() => expandSweep(sweep({ specVarient: ['rules'] }))).toThrow(
      /point rules: .*unknown field\(s\) specVarient/,
    );
    expect(() => expandSweep(sweep({ specVariant: ['rules', 'everything'] }))).toThrow(InvalidSweepError);
    expect(() => expandSweep(sweep({ specVariant: ['rules', 'everything'] }))).toThrow(/point everything: specVariant/);
    expect(() => expandSweep({ ...sweep({ specVariant: ['rules'] }), only: ['nope'] })).toThrow(
      /no point nope in this sweep \(points: rules\)/,
    );
  });

  it('caps what drives the history: axes, values an axis, points, points a run', () => {
    const file = (axes: Record<string, unknown[]>, more: Record<string, unknown> = {}) =>
      sweepFileSchema.safeParse({ name: 's', base: 'b.json', axes, ...more });
    const values = (n: number) => Array.from({ length: n }, (_, i) => i);
    expect(file({ 'midtrain.lr': values(100) }).success).toBe(true);
    expect(JSON.stringify(file({ 'midtrain.lr': values(101) }).error)).toMatch(/at most 100 values an axis/);
    const nine = Object.fromEntries(values(9).map((i) => [`a${i}`, [1]]));
    expect(JSON.stringify(file(nine).error)).toMatch(/at most 8 axes/);
    // 40 × 30 = 1200 points: refused by arithmetic, before any grid is built.
    expect(JSON.stringify(file({ a: values(40), b: values(30) }).error)).toMatch(
      new RegExp(`at most ${SWEEP_LIMITS.points} points`),
    );
    expect(file({ a: [1] }, { pointsPerRun: 0 }).success).toBe(false);
    expect(file({ a: [1] }, { pointsPerRun: 20 }).success).toBe(true);
  });

  it("msmSweep's own input check names each problem", () => {
    const r = sweepInputSchema.safeParse({ name: 'x', base: 'base.json', axes: ['spec'] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['axes', 'base']);
    expect(sweepInputSchema.safeParse(null).success).toBe(false);
    // A misspelt required field is still caught: it leaves the real one missing.
    const misspelt = sweepInputSchema.safeParse({ name: 'x', base: minimal, axis: { spec: ['a'] } });
    expect(misspelt.error!.issues.map((i) => i.path.join('.'))).toEqual(['axes']);
  });

  it('the shipped JSON Schema of sweep files is the current one (regenerate: bin/msm schema sweep experiments/sweep.schema.json)', () => {
    expect(readFileSync(path.join(PROJECT_ROOT, 'experiments', 'sweep.schema.json'), 'utf8')).toBe(sweepJsonSchema());
  });

  it('experiments/spec-science.yaml is one sweep of four spec variants', () => {
    const { input, points } = loadSweepFile(path.join(PROJECT_ROOT, 'experiments', 'spec-science.yaml'));
    expect(points.map((p) => p.id)).toEqual(['rules', 'rules-values', 'rules-subrules', 'full']);
    expect(points.map((p) => p.experiment.specVariant)).toEqual(['rules', 'rules+values', 'rules+subrules', 'full']);
    expect(input.base).toMatchObject({ spec: 'specs/demo.md' }); // the content, not the path, is the workflow input
  });
});
