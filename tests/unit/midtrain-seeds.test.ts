import { describe, expect, it } from 'vitest';
import { experimentSchema } from '../../src/config/experiment-schema';
import { corpusDrawOf, midtrainHyper, midtrainSeeds, midtrainSuffix } from '../../src/config/midtrain';
import { corpusPrefix } from '../../src/corpus/keys';
import { buildResults, type ReportInput } from '../../src/report/results';
import { methodLines } from '../../src/report/tables';
import { smallReportInput } from '../helpers/report-input';

const minimal = {
  name: 'seeds',
  spec: 'specs/demo.md',
  store: 'file:///tmp/s',
  aft: { data: 'a.jsonl', arms: ['baseline', 'msm'] },
  eval: { prompts: 'e.jsonl' },
};
const problems = (midtrain: Record<string, unknown>, arms?: string[]) => {
  const r = experimentSchema.safeParse({ ...minimal, midtrain, aft: { ...minimal.aft, ...(arms && { arms }) } });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('midtrain.seeds: settings', () => {
  it('defaults to one run (seed 0); refuses a list without 0, a repeated seed, and seeds with nothing midtrained', () => {
    const x = experimentSchema.parse(minimal);
    expect(midtrainSeeds(x.midtrain)).toEqual([0]);
    expect(x.midtrain.corpusDraws).toBe('per-seed');
    // Histories loaded before the field existed have none: one run.
    expect(midtrainSeeds({})).toEqual([0]);
    expect(problems({ seeds: [0, 1, 2] })).toEqual([]);
    expect(problems({ seeds: [1, 2] })[0]).toMatch(/^midtrain\.seeds: midtrain\.seeds \[1,2\] leaves out 0/);
    expect(problems({ seeds: [0, 1, 1] })[0]).toMatch(/seed 1 is listed twice/);
    expect(problems({ seeds: [0, 1] }, ['baseline'])[0]).toMatch(/no arm starts from a midtraining/);
  });

  it('never reaches the trainer: the hyper-parameters (and so every run key) are those of a single run', () => {
    const one = experimentSchema.parse(minimal);
    const three = experimentSchema.parse({ ...minimal, midtrain: { seeds: [0, 1, 2], corpusDraws: 'shared' } });
    expect(midtrainHyper(three.midtrain)).toEqual(midtrainHyper(one.midtrain));
    expect(midtrainHyper(three.midtrain)).not.toHaveProperty('seeds');
    expect(midtrainHyper(three.midtrain)).not.toHaveProperty('corpusDraws');
  });

  it('names: seed 0 keeps every name; another seed adds -m<seed>; draws are per seed unless shared', () => {
    expect(midtrainSuffix(0)).toBe('');
    expect(midtrainSuffix(3)).toBe('-m3');
    expect(corpusDrawOf({ corpusDraws: 'per-seed' }, 3)).toBe(3);
    expect(corpusDrawOf({ corpusDraws: 'shared' }, 3)).toBe(0);
  });

  it('a corpus draw has its own id (so its own items and request seeds); draw 0 keeps the id it always had', () => {
    const generation = experimentSchema.parse(minimal).generation;
    const job = { specHash: 'spec', generation };
    const first = corpusPrefix(job, '# Spec\n');
    expect(corpusPrefix({ ...job, draw: 0 }, '# Spec\n')).toBe(first);
    const second = corpusPrefix({ ...job, draw: 2 }, '# Spec\n');
    expect(second).not.toBe(first);
    expect(corpusPrefix({ ...job, draw: 3 }, '# Spec\n')).not.toBe(second);
  });
});

/** msm cells at 1/1: `rates[m][s]` = violations of 100 over 10 prompts, for midtraining m and AFT seed s. */
function msmCells(rates: number[][], withMidtrainSeeds: boolean): ReportInput['cells'] {
  return rates.flatMap((perSeed, m) =>
    perSeed.map((k, s) => ({
      arm: 'msm',
      fraction: 1,
      seed: withMidtrainSeeds ? s : m * perSeed.length + s,
      ...(withMidtrainSeeds && { midtrainSeed: m }),
      trainFinalLoss: 1,
      modelUri: `file:///runs/msm-${m}-${s}`,
      eval: { k, n: 100, samplesUri: 'file:///s', judgeModel: 'judge' },
      prompts: Array.from({ length: 10 }, (_, p) => ({
        prompt: `p${p}`,
        condition: `p${p}`,
        k: Math.floor(k / 10) + (p < k % 10 ? 1 : 0),
        n: 10,
      })),
    })),
  );
}

describe('midtrain.seeds: the report', () => {
  // Two midtrainings far apart (10% and 60%), each with four AFT seeds that agree.
  const rates = [
    [10, 10, 10, 10],
    [60, 60, 60, 60],
  ];
  const baseline = smallReportInput().cells.filter((c) => c.arm === 'baseline');
  const lineage = {
    midtrains: [
      {
        seed: 1,
        corpusDraw: 1,
        corpus: { documents: 3, tokens: 30, hash: 'h1' },
        midtrain: { finalLoss: 2.1, steps: 5, checkpoint: 'file:///m1' },
      },
    ],
  };
  const input = (withMidtrainSeeds: boolean) =>
    smallReportInput(withMidtrainSeeds ? lineage : {}, [...baseline, ...msmCells(rates, withMidtrainSeeds)]);
  const msmPoint = (r: ReturnType<typeof buildResults>) =>
    r.curves.find((c) => c.arm === 'msm')!.points[0].misalignment;

  it('resamples whole midtrainings: the interval spans the two runs, wider than eight independent seeds would give', () => {
    const clustered = buildResults(input(true));
    const asSeeds = buildResults(input(false));
    const byRun = msmPoint(clustered);
    const bySeed = msmPoint(asSeeds);
    expect(byRun.rate).toBeCloseTo(0.35);
    expect(bySeed.rate).toBeCloseTo(0.35);
    // Two clusters: a replicate holds run 0 twice, run 1 twice, or one of each.
    expect(byRun.lo).toBeLessThanOrEqual(0.1 + 0.02);
    expect(byRun.hi).toBeGreaterThanOrEqual(0.6 - 0.02);
    expect(byRun.hi - byRun.lo).toBeGreaterThan(bySeed.hi - bySeed.lo);
  });

  it('names cells by their midtraining, starts them from it, and says how far the intervals reach', () => {
    const r = buildResults(input(true));
    const msm = r.cells.filter((c) => c.arm === 'msm' && c.seed < 2);
    expect(msm.map((c) => [c.id, c.midtrainSeed, c.startsFrom])).toEqual([
      ['msm-1of1-s0', 0, 'file:///m'],
      ['msm-1of1-s1', 0, 'file:///m'],
      ['msm-1of1-s0-m1', 1, 'file:///m1'],
      ['msm-1of1-s1-m1', 1, 'file:///m1'],
    ]);
    expect(r.analysis.clusters.midtrainings).toBe(2);
    expect(r.lineage.midtrains).toEqual(lineage.midtrains);
    expect(r.methods.midtraining).toMatch(
      /^2 independent midtraining runs \(midtrain\.seeds, each on its own corpus draw\)/,
    );
    expect(methodLines(r).some((l) => l.startsWith('Midtraining: 2 independent'))).toBe(true);

    // One midtraining: the report says the MSM effect rests on it alone.
    const single = buildResults(smallReportInput());
    expect(single.methods.midtraining).toMatch(/n = 1 midtraining \(set midtrain\.seeds/);
    expect(single.analysis.clusters).not.toHaveProperty('midtrainings');
  });
});
