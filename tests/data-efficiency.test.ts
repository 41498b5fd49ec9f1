import { describe, expect, it } from 'vitest';
import { bootstrapDataEfficiency, dataEfficiency, type RatePoint } from '../src/eval/data-efficiency';
import { seedTotal } from '../src/eval/counts';

const curve = (pairs: Array<[number, number | null]>): RatePoint[] =>
  pairs.map(([fraction, rate]) => ({ fraction, rate }));
const baseline = curve([
  [1, 0.1],
  [1 / 10, 0.3],
  [1 / 40, 0.5],
]);

describe('data-efficiency factor', () => {
  it('interpolates linearly in log(fraction) between the two points around the target', () => {
    // Target 0.10. MSM is above it at 1/60 (0.30) and 1/40 (0.20), below at 1/10 (0.05).
    // t = (0.20 − 0.10)/(0.20 − 0.05) = 2/3 of the way from log(1/40) to log(1/10):
    // f* = (1/40)·4^(2/3) = 0.0629960, factor = 40 / 4^(2/3) = 10·∛4 = 15.8740105.
    const msm = curve([
      [1, 0.02],
      [1 / 10, 0.05],
      [1 / 40, 0.2],
      [1 / 60, 0.3],
    ]);
    const d = dataEfficiency(baseline, msm);
    expect(d.status).toBe('reached');
    if (d.status !== 'reached') return;
    expect(d.target).toBe(0.1);
    expect(d.fullFraction).toBe(1);
    expect(d.fraction).toBeCloseTo(0.0629960525, 9);
    expect(d.factor).toBeCloseTo(15.8740105197, 9);
  });

  it('lands exactly on a measured fraction when the rate there equals the target', () => {
    const d = dataEfficiency(
      baseline,
      curve([
        [1, 0.05],
        [1 / 10, 0.1],
        [1 / 40, 0.4],
      ]),
    );
    expect(d).toMatchObject({ status: 'reached' });
    if (d.status === 'reached') expect(d.factor).toBeCloseTo(10, 12);
  });

  it('uses the first crossing from the smallest fraction upwards (the smallest fraction that reaches)', () => {
    // Above at 1/60, below at 1/40 (crossing there), above again at 1/10: f* is between 1/60 and 1/40.
    // t = (0.3 − 0.1)/(0.3 − 0.05) = 0.8; f* = (1/60)·(60/40)^0.8 = 0.0230653; factor = 43.355.
    const d = dataEfficiency(
      baseline,
      curve([
        [1, 0.05],
        [1 / 10, 0.2],
        [1 / 40, 0.05],
        [1 / 60, 0.3],
      ]),
    );
    expect(d.status).toBe('reached');
    if (d.status === 'reached') expect(d.factor).toBeCloseTo(60 / 1.5 ** 0.8, 9);
  });

  it('reports only a lower bound when MSM beats the target at the smallest fraction', () => {
    expect(
      dataEfficiency(
        baseline,
        curve([
          [1, 0.01],
          [1 / 60, 0.05],
        ]),
      ),
    ).toEqual({ status: 'lower-bound', target: 0.1, fullFraction: 1, fraction: 1 / 60, factor: 60 });
    // All rates equal: at the target everywhere, so again a lower bound, never a division by zero.
    const flat = curve([
      [1, 0.2],
      [1 / 4, 0.2],
      [1 / 40, 0.2],
    ]);
    expect(dataEfficiency(flat, flat)).toEqual({
      status: 'lower-bound',
      target: 0.2,
      fullFraction: 1,
      fraction: 1 / 40,
      factor: 40,
    });
  });

  it('says "not reached" when MSM stays above the target', () => {
    expect(
      dataEfficiency(
        baseline,
        curve([
          [1, 0.12],
          [1 / 40, 0.6],
        ]),
      ),
    ).toEqual({ status: 'not-reached', target: 0.1, fullFraction: 1, largestMsmRate: 0.12 });
  });

  it('handles a single fraction, a missing arm and empty cells without NaN', () => {
    expect(dataEfficiency(curve([[1, 0.3]]), curve([[1, 0.1]]))).toEqual({
      status: 'lower-bound',
      target: 0.3,
      fullFraction: 1,
      fraction: 1,
      factor: 1,
    });
    expect(dataEfficiency(curve([[1, 0.3]]), curve([[1, 0.4]]))).toMatchObject({ status: 'not-reached' });
    expect(dataEfficiency([], curve([[1, 0.1]]))).toEqual({ status: 'unavailable', reason: 'no baseline arm' });
    expect(dataEfficiency(baseline, [])).toEqual({ status: 'unavailable', reason: 'no msm arm' });
    expect(
      dataEfficiency(
        curve([
          [1, null],
          [0.5, 0.2],
        ]),
        curve([[1, 0.1]]),
      ),
    ).toMatchObject({ status: 'unavailable', reason: expect.stringMatching(/full data/) });
    expect(dataEfficiency(baseline, curve([[1, null]]))).toMatchObject({ status: 'unavailable' });
    // An empty MSM cell drops out of the curve; the rest still interpolates (target 0.1 between 0.2 at 1/40 and 0 at 1).
    const d = dataEfficiency(
      baseline,
      curve([
        [1, 0],
        [1 / 10, null],
        [1 / 40, 0.2],
      ]),
    );
    expect(d.status).toBe('reached');
    if (d.status === 'reached') expect(d.factor).toBeCloseTo(Math.sqrt(40), 9); // halfway in log between 1/40 and 1
    expect(() =>
      dataEfficiency(
        curve([
          [1, 0.1],
          [1, 0.2],
        ]),
        baseline,
      ),
    ).toThrow(/twice/);
    expect(() => dataEfficiency(curve([[0, 0.1]]), baseline)).toThrow(/\(0, 1\]/);
  });
});

describe('data-efficiency bootstrap', () => {
  // Pooled rates: baseline 1/1 = 0.10; msm 1/10 = 0.05, 1/40 = 0.20, 1/60 = 0.30 → factor 10·∛4 as above.
  const big = (rate: number, n: number) => [seedTotal(0, Math.round(rate * n), n)];
  const arms = (n: number) => ({
    baseline: [
      { fraction: 1, cell: big(0.1, n) },
      { fraction: 1 / 40, cell: big(0.5, n) },
    ],
    msm: [
      { fraction: 1, cell: big(0.02, n) },
      { fraction: 1 / 10, cell: big(0.05, n) },
      { fraction: 1 / 40, cell: big(0.2, n) },
      { fraction: 1 / 60, cell: big(0.3, n) },
    ],
  });

  it('recomputes the factor on resampled cells; large samples give a tight interval around it', () => {
    const { baseline: b, msm: m } = arms(20_000);
    const r = bootstrapDataEfficiency(b, m, { resamples: 200, seed: 5, level: 0.95 });
    expect(r.estimate).toMatchObject({ status: 'reached' });
    if (r.estimate.status === 'reached') expect(r.estimate.factor).toBeCloseTo(10 * Math.cbrt(4), 9);
    expect(r.interval!.lo.status).toBe('reached');
    expect(r.interval!.hi.status).toBe('reached');
    expect(r.interval!.lo.factor!).toBeGreaterThan(14);
    expect(r.interval!.lo.factor!).toBeLessThan(15.874);
    expect(r.interval!.hi.factor!).toBeGreaterThan(15.874);
    expect(r.interval!.hi.factor!).toBeLessThan(18);
    expect(bootstrapDataEfficiency(b, m, { resamples: 200, seed: 5, level: 0.95 })).toEqual(r);
  });

  it('small samples reach both censored ends: "not reached" below, "≥ 60" above', () => {
    // Baseline 2/20 at full data; msm 2/20 at full data and 1/20 at 1/60: estimate "≥ 60".
    // A replicate is "not reached" when the target resamples to 0 (0.9^20 = 0.12) while both msm
    // points stay above 0 ((1 − 0.9^20)(1 − 0.95^20) = 0.56): about 7% of replicates, above the 2.5% tail.
    const b = [{ fraction: 1, cell: [seedTotal(0, 2, 20)] }];
    const m = [
      { fraction: 1, cell: [seedTotal(0, 2, 20)] },
      { fraction: 1 / 60, cell: [seedTotal(0, 1, 20)] },
    ];
    const r = bootstrapDataEfficiency(b, m, { resamples: 1000, seed: 9, level: 0.95 });
    expect(r.estimate).toEqual({ status: 'lower-bound', target: 0.1, fullFraction: 1, fraction: 1 / 60, factor: 60 });
    expect(r.interval).toEqual({
      lo: { status: 'not-reached', factor: null },
      hi: { status: 'lower-bound', factor: 60 },
    });
  });

  it('has no interval when the factor is unavailable', () => {
    const r = bootstrapDataEfficiency([], [{ fraction: 1, cell: big(0.1, 10) }]);
    expect(r).toEqual({ estimate: { status: 'unavailable', reason: 'no baseline arm' }, interval: null });
  });
});
