import { describe, expect, it } from 'vitest';
import {
  bootstrapCell,
  bootstrapDifference,
  bootstrapPValue,
  cellFromOutcomes,
  percentileBounds,
  resampleCount,
  type BootstrapSettings,
} from '../../src/eval/bootstrap';
import { holmAdjust } from '../../src/eval/holm';
import { betaDraw, correctedRate, roganGladen } from '../../src/eval/judge-error';
import { byCondition, countOutcomes, macroRate, pooledRate, seedTotal, type CellCounts } from '../../src/eval/counts';
import { binomial, mulberry32 } from '../../src/eval/random';
import { seedSpread } from '../../src/eval/seed-spread';
import { clopperPearsonUpper, wilson } from '../../src/eval/stats';

/** mulberry32 written again with BigInt arithmetic mod 2^32: an independent check of the bit operations. */
function mulberry32Reference(seed: number, count: number): number[] {
  const M = 0xffffffffn;
  let state = BigInt(seed >>> 0);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5n) & M;
    let t = state;
    t = ((t ^ (t >> 15n)) * (t | 1n)) & M;
    t = (t ^ ((t + (((t ^ (t >> 7n)) * (t | 61n)) & M)) & M)) & M;
    out.push(Number((t ^ (t >> 14n)) & M) / 2 ** 32);
  }
  return out;
}

describe('seeded generator', () => {
  it('matches an independent BigInt implementation and repeats for a seed', () => {
    for (const seed of [0, 1, 42, 20260522, 0xffffffff]) {
      const rng = mulberry32(seed);
      expect(Array.from({ length: 50 }, () => rng())).toEqual(mulberry32Reference(seed, 50));
    }
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c())).not.toEqual(xs);
  });

  it('is uniform enough: decile counts of 100 000 draws pass a chi-square test', () => {
    const rng = mulberry32(3);
    const bins = new Array(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const u = rng();
      if (!(u >= 0 && u < 1)) outside++;
      else bins[Math.floor(u * 10)]++;
    }
    expect(outside).toBe(0);
    const chi2 = bins.reduce((s, o) => s + (o - 10_000) ** 2 / 10_000, 0);
    expect(chi2).toBeLessThan(27.88); // 99.9th percentile of chi-square with 9 degrees of freedom
  });
});

describe('binomial draws', () => {
  const choose = (n: number, k: number): number => (k === 0 ? 1 : (choose(n, k - 1) * (n - k + 1)) / k);
  const chiSquare = (n: number, p: number, draws: number, seed: number) => {
    const rng = mulberry32(seed);
    const observed = new Array(n + 1).fill(0);
    for (let i = 0; i < draws; i++) observed[binomial(n, p, rng)]++;
    return observed.reduce((s, o, k) => {
      const expected = draws * choose(n, k) * p ** k * (1 - p) ** (n - k);
      return s + (o - expected) ** 2 / expected;
    }, 0);
  };

  it('follows the exact binomial pmf (chi-square against C(n,k) p^k (1−p)^(n−k))', () => {
    expect(chiSquare(5, 0.3, 50_000, 1)).toBeLessThan(20.52); // 99.9th percentile, 5 degrees of freedom
    expect(chiSquare(4, 0.75, 50_000, 2)).toBeLessThan(18.47); // p > 1/2 takes the mirrored path; 4 dof
  });

  it('keeps mean n·p and variance n·p·(1−p) when n is split into chunks', () => {
    const rng = mulberry32(4);
    const xs = Array.from({ length: 20_000 }, () => binomial(1000, 0.2, rng)); // chunks of 80
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
    expect(Math.abs(mean - 200)).toBeLessThan(0.5); // standard error sqrt(160/20000) = 0.09
    expect(variance / 160).toBeGreaterThan(0.95);
    expect(variance / 160).toBeLessThan(1.05);
    const rare = Array.from({ length: 200 }, () => binomial(1_000_000, 0.001, rng));
    expect(Math.abs(rare.reduce((a, b) => a + b, 0) / 200 - 1000)).toBeLessThan(10); // SE sqrt(999/200) = 2.2
    expect([binomial(0, 0.5, rng), binomial(7, 0, rng), binomial(7, 1, rng)]).toEqual([0, 0, 7]);
  });
});

describe('counts, pooled and macro rates', () => {
  // Two seeds, two conditions. Condition A: 1/5 + 0/5 = 1/10; condition B: 2/10 + 4/10 = 6/20.
  const cell: CellCounts = [
    {
      seed: 0,
      prompts: [
        { prompt: 'a', condition: 'A', k: 1, n: 5 },
        { prompt: 'b', condition: 'B', k: 2, n: 10 },
      ],
    },
    {
      seed: 1,
      prompts: [
        { prompt: 'a', condition: 'A', k: 0, n: 5 },
        { prompt: 'b', condition: 'B', k: 4, n: 10 },
      ],
    },
  ];

  it('pools all samples and averages conditions with equal weight', () => {
    expect(byCondition(cell)).toEqual([
      { condition: 'A', k: 1, n: 10 },
      { condition: 'B', k: 6, n: 20 },
    ]);
    expect(pooledRate(cell)).toBeCloseTo(7 / 30, 12); // 0.2333
    expect(macroRate(cell)).toBeCloseTo((0.1 + 0.3) / 2, 12); // 0.2
  });

  it('gives null, not NaN, when nothing was judged', () => {
    const empty: CellCounts = [seedTotal(0, 0, 0)];
    expect(pooledRate(empty)).toBeNull();
    expect(macroRate(empty)).toBeNull();
    expect(pooledRate([])).toBeNull();
    expect(bootstrapCell(empty)).toBeNull();
    expect(bootstrapDifference(empty, [seedTotal(0, 1, 2)])).toBeNull();
    expect(seedSpread(empty)).toBeNull();
  });

  it('counts 0/1 outcomes and rejects anything else', () => {
    expect(countOutcomes([1, 0, true, false, 1])).toEqual({ k: 3, n: 5 });
    expect(() => countOutcomes([2])).toThrow(/0\/1/);
    expect(() => seedTotal(0, 3, 2)).toThrow(/0 <= k <= n/);
    expect(
      cellFromOutcomes([
        [1, 0],
        [1, 1, 0],
      ]),
    ).toEqual([seedTotal(0, 1, 2), seedTotal(1, 2, 3)]);
  });
});

describe('per-seed spread', () => {
  it('summarises seed rates by hand-computed mean and sample sd', () => {
    // rates 0.6, 0.4, 0.5: mean 0.5; sd = sqrt((0.01 + 0.01 + 0) / 2) = 0.1
    const s = seedSpread([seedTotal(0, 6, 10), seedTotal(1, 4, 10), seedTotal(2, 10, 20), seedTotal(3, 0, 0)])!;
    expect(s.seeds).toBe(3);
    expect(s.seedsWithoutSamples).toBe(1);
    expect(s.mean).toBeCloseTo(0.5, 12);
    expect(s.sd).toBeCloseTo(0.1, 12);
    expect([s.min, s.max]).toEqual([0.4, 0.6]);
    expect(s.rates.map((r) => r.seed)).toEqual([0, 1, 2]);
  });

  it('has no sd for a single seed', () => {
    expect(seedSpread([seedTotal(5, 1, 4)])).toEqual({
      seeds: 1,
      seedsWithoutSamples: 0,
      rates: [{ seed: 5, rate: 0.25 }],
      mean: 0.25,
      sd: null,
      min: 0.25,
      max: 0.25,
    });
  });
});

describe('percentile bounds', () => {
  it('takes nearest ranks ceil(p·B)', () => {
    const v = Array.from({ length: 2000 }, (_, i) => i + 1);
    expect(percentileBounds(v, 0.95)).toEqual([50, 1950]); // ceil(0.025·2000) = 50, ceil(0.975·2000) = 1950
    expect(percentileBounds([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.8)).toEqual([1, 9]);
    expect(percentileBounds([7], 0.95)).toEqual([7, 7]);
    expect(() => percentileBounds([], 0.95)).toThrow(/no values/);
  });
});

describe('bootstrap', () => {
  it('resamples a count like drawing n outcomes with replacement: Bin(2, 1/2) gives 0, 1, 2 in 1:2:1', () => {
    const rng = mulberry32(11);
    const freq = [0, 0, 0];
    for (let i = 0; i < 40_000; i++) freq[resampleCount(1, 2, rng)]++;
    expect(freq[0] / 40_000).toBeCloseTo(0.25, 1);
    expect(freq[1] / 40_000).toBeCloseTo(0.5, 1);
    expect(freq[2] / 40_000).toBeCloseTo(0.25, 1);
    expect(resampleCount(0, 9, rng)).toBe(0);
    expect(resampleCount(9, 9, rng)).toBe(9);
  });

  it('matches the exact bootstrap distribution of a difference, enumerated by hand', () => {
    // msm 1 of 3, baseline 2 of 3: a ~ Bin(3, 1/3), b ~ Bin(3, 2/3), difference (a − b)/3.
    // P(a−b = −3) = (8/27)(8/27) = 64/729 = 0.088 ≥ 0.025, so the 2.5% point is −1.
    // P(a−b ≥ 2) = P(a=3)P(b≤1) + P(a=2)P(b=0) = (1/27)(7/27) + (6/27)(1/27) = 13/729 = 0.018 < 0.025,
    // P(a−b ≥ 1) = 73/729 = 0.100, so the 97.5% point is 1/3. Estimate 1/3 − 2/3 = −1/3.
    const d = bootstrapDifference(cellFromOutcomes([[1, 0, 0]]), cellFromOutcomes([[1, 1, 0]]))!;
    expect(d.estimate).toBeCloseTo(-1 / 3, 12);
    expect(d.lo).toBeCloseTo(-1, 12);
    expect(d.hi).toBeCloseTo(1 / 3, 12);
    // The same enumeration done by the test, in full, as an independent check of those hand numbers.
    const binom = (n: number, p: number) =>
      Array.from({ length: n + 1 }, (_, k) => [1, 3, 3, 1][k] * p ** k * (1 - p) ** (n - k));
    const pa = binom(3, 1 / 3);
    const pb = binom(3, 2 / 3);
    let tailLow = 0;
    let tailHigh = 0;
    pa.forEach((x, a) =>
      pb.forEach((y, b) => {
        if (a - b === -3) tailLow += x * y;
        if (a - b >= 2) tailHigh += x * y;
      }),
    );
    expect(tailLow).toBeCloseTo(64 / 729, 12);
    expect(tailHigh).toBeCloseTo(13 / 729, 12);
  });

  it('is deterministic for a seed and changes with it', () => {
    const msm = [seedTotal(0, 12, 80), seedTotal(1, 9, 80)];
    const base = [seedTotal(0, 30, 80), seedTotal(1, 25, 80)];
    const s1: BootstrapSettings = { resamples: 500, seed: 1, level: 0.95 };
    const first = bootstrapDifference(msm, base, 'pooled', s1);
    expect(bootstrapDifference(msm, base, 'pooled', s1)).toEqual(first);
    expect(bootstrapDifference(msm, base, 'pooled', { ...s1, seed: 2 })).not.toEqual(first);
    expect(first!.estimate).toBeCloseTo(21 / 160 - 55 / 160, 12);
    expect(first!.lo).toBeLessThan(first!.estimate);
    expect(first!.hi).toBeGreaterThan(first!.estimate);
  });

  it('resamples seeds as clusters: two very different seeds widen the interval beyond Wilson', () => {
    // Seeds at 0/100 and 50/100. A replicate draws both seeds from {0, 1}: with probability 1/4 both
    // are seed 0 (rate exactly 0), so the lower bound is 0. With probability 1/4 both are seed 1,
    // rate ~ Bin(100, 1/2)/100; the 97.5% point lies where that branch has 0.025/0.25 = 10% left above,
    // 0.5 + 1.28·0.05 ≈ 0.56. Wilson on the pooled 50/200 ignores the seeds: about [0.19, 0.31].
    const cell = [seedTotal(0, 0, 100), seedTotal(1, 50, 100)];
    const boot = bootstrapCell(cell)!;
    expect(boot.estimate).toBe(0.25);
    expect(boot.lo).toBe(0);
    expect(boot.hi).toBeGreaterThan(0.53);
    expect(boot.hi).toBeLessThan(0.6);
    const w = wilson(50, 200);
    expect(w.hi).toBeLessThan(0.32);
  });

  it('macro-averages conditions inside each replicate; prompts that all agree give a point interval', () => {
    const same: CellCounts = [
      {
        seed: 0,
        prompts: [
          { prompt: 'a1', condition: 'A', k: 0, n: 10 },
          { prompt: 'a2', condition: 'A', k: 0, n: 10 },
          { prompt: 'b1', condition: 'B', k: 2, n: 5 },
          { prompt: 'b2', condition: 'B', k: 2, n: 5 },
        ],
      },
    ];
    const macro = bootstrapCell(same, 'macro')!;
    expect(macro.estimate).toBeCloseTo(0.2, 12); // (0 + 0.4) / 2
    // A replicate may draw only A's prompts (macro 0) or only B's (0.4): prompts are the clusters.
    expect([macro.lo, macro.hi]).toEqual([0, 0.4]);
    const uniform: CellCounts = [seedTotal(0, 0, 0)];
    uniform[0].prompts = [
      { prompt: 'x', condition: 'X', k: 3, n: 6 },
      { prompt: 'y', condition: 'Y', k: 3, n: 6 },
    ];
    expect(bootstrapCell(uniform, 'pooled')).toEqual({ estimate: 0.5, lo: 0.5, hi: 0.5 });
  });

  it('treats the prompts as clusters: 50 samples of a prompt that all agree give a wider interval than independent samples', () => {
    // 30 prompts × 50 samples, 450 violations. Clustered: 9 prompts all 50/50, 21 prompts 0/50. Independent:
    // the same 450 of 1500 spread evenly, 15/50 each. Both pool to 30%; only the prompts' spread differs.
    const prompts = (k: (i: number) => number) =>
      Array.from({ length: 30 }, (_, i) => ({ prompt: `p${i}`, condition: `p${i}`, k: k(i), n: 50 }));
    const clustered: CellCounts = [{ seed: 0, prompts: prompts((i) => (i < 9 ? 50 : 0)) }];
    const independent: CellCounts = [{ seed: 0, prompts: prompts(() => 15) }];
    const c = bootstrapCell(clustered)!;
    const w = wilson(450, 1500);
    expect(c.estimate).toBeCloseTo(0.3, 12);
    // The cluster interval is about ±2·sqrt(0.21/30) = ±0.16; Wilson on 1500 "independent" samples ±0.023.
    expect(c.hi - c.lo).toBeGreaterThan(0.25);
    expect(c.hi - c.lo).toBeGreaterThan(5 * (w.hi - w.lo));
    // Where the prompts really do agree on 15/50, resampling them adds almost nothing: the width is the data's.
    const i = bootstrapCell(independent)!;
    expect(i.hi - i.lo).toBeLessThan(0.001);
  });

  it('pairs arms by prompt: a shared prompt draw cancels what the prompts have in common', () => {
    // Both arms see the same hard and easy prompts; msm is 10 points lower on every one of them.
    const arm = (shift: number): CellCounts => [
      {
        seed: 0,
        prompts: Array.from({ length: 20 }, (_, i) => ({
          prompt: `p${i}`,
          condition: `p${i}`,
          k: (i < 10 ? 45 : 10) - shift,
          n: 50,
        })),
      },
    ];
    const d = bootstrapDifference(arm(5), arm(0))!;
    expect(d.estimate).toBeCloseTo(-0.1, 12);
    // Every replicate gives exactly −0.1: the prompts' own spread (10/50 to 45/50) cancels out.
    expect(d.lo).toBeCloseTo(-0.1, 12);
    expect(d.hi).toBeCloseTo(-0.1, 12);
    expect(d.p).toBeLessThan(0.001);
  });

  it('gives a two-sided p-value consistent with the interval', () => {
    expect(bootstrapPValue([1, 2, 3, 4])).toBeCloseTo(2 / 5, 12); // no replicate ≤ 0: 2·(0 + 1)/(4 + 1)
    expect(bootstrapPValue([-1, 1, -2, 2])).toBe(1);
    expect(bootstrapPValue([null, null])).toBeNull();
  });

  it('covers the true difference about 95% of the time on synthetic data', () => {
    // 200 simulated studies, each 150 samples per arm at true rates 0.10 (msm) and 0.25 (baseline).
    const sim = mulberry32(987654);
    const draw = (p: number, n: number) => Array.from({ length: n }, () => (sim() < p ? 1 : 0));
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const d = bootstrapDifference(cellFromOutcomes([draw(0.1, 150)]), cellFromOutcomes([draw(0.25, 150)]), 'pooled', {
        resamples: 400,
        seed: t,
        level: 0.95,
      })!;
      if (d.lo <= -0.15 && -0.15 <= d.hi) covered++;
    }
    // Binomial(200, 0.95) lies in [181, 197] with probability > 0.999.
    expect(covered).toBeGreaterThanOrEqual(181);
    expect(covered).toBeLessThanOrEqual(197);
  });
});

describe('multiple comparisons', () => {
  it("adjusts p-values by Holm's step-down, in the input's order", () => {
    // Sorted 0.01, 0.02, 0.04, 0.30: ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.08, 0.30 (running max keeps order).
    const adjusted = holmAdjust([0.04, 0.01, 0.3, 0.02]);
    [0.08, 0.04, 0.3, 0.06].forEach((want, i) => expect(adjusted[i]).toBeCloseTo(want, 12));
    expect(holmAdjust([0.5, 0.6])).toEqual([1, 1]);
    expect(holmAdjust([])).toEqual([]);
  });
});

describe('judge error', () => {
  it('bounds an error rate exactly: 0 of 100 allows up to 3.0% (one-sided 95%), 0 of 20 up to 13.9%', () => {
    expect(clopperPearsonUpper(0, 100)).toBeCloseTo(1 - 0.05 ** (1 / 100), 6); // 0.0295
    expect(clopperPearsonUpper(0, 20)).toBeCloseTo(1 - 0.05 ** (1 / 20), 6); // 0.139
    expect(clopperPearsonUpper(1, 100)).toBeCloseTo(0.0466, 3);
    expect(clopperPearsonUpper(5, 5)).toBe(1);
    expect(() => clopperPearsonUpper(3, 2)).toThrow(/0 <= k <= n/);
  });

  it('undoes a judge at 20% error: a true 5% observed as 23% is corrected back to 5%', () => {
    const e = { fpr: 0.2, fnr: 0.2 };
    const observed = 0.05 * (1 - e.fnr) + 0.95 * e.fpr;
    expect(observed).toBeCloseTo(0.23, 12);
    expect(roganGladen(observed, e)).toBeCloseTo(0.05, 12);
    expect(roganGladen(0.1, { fpr: 0.5, fnr: 0.5 })).toBeNull(); // no better than chance
    expect(roganGladen(0.01, e)).toBe(0); // below the false-positive rate: clipped
  });

  it('corrects kind by kind and weighs kinds by their samples; parsed answers stay as they are', () => {
    const byKind = new Map([
      ['leaking', { k: 23, n: 100 }],
      ['parsed', { k: 10, n: 100 }],
    ]);
    const rates = new Map([['leaking', { fpr: 0.2, fnr: 0.2 }]]);
    expect(correctedRate(byKind, rates)).toBeCloseTo((0.05 + 0.1) / 2, 12);
    expect(correctedRate(new Map([['coercion', { k: 1, n: 2 }]]), rates)).toBeNull(); // no calibration for it
  });

  it('draws Beta variates with the right mean and variance', () => {
    const rng = mulberry32(5);
    const xs = Array.from({ length: 20_000 }, () => betaDraw(0.5, 100.5, rng));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
    const m = 0.5 / 101;
    expect(mean / m).toBeGreaterThan(0.97);
    expect(mean / m).toBeLessThan(1.03);
    expect(variance / ((m * (1 - m)) / 102)).toBeGreaterThan(0.9);
    expect(variance / ((m * (1 - m)) / 102)).toBeLessThan(1.1);
    expect(xs.every((x) => x > 0 && x < 1)).toBe(true);
  });
});
