import { describe, expect, it } from 'vitest';
import { ClusterData, type BootstrapSettings } from '../../src/eval/bootstrap';
import { seedTotal, type CellCounts } from '../../src/eval/counts';
import { bootstrapDataEfficiency, dataEfficiency, type RatePoint } from '../../src/eval/data-efficiency';

const curve = (pairs: Array<[number, number | null]>): RatePoint[] =>
  pairs.map(([fraction, rate]) => ({ fraction, rate }));
const baseline = curve([
  [1, 0.1],
  [1 / 10, 0.3],
  [1 / 40, 0.5],
]);
const basis = { target: 0.1, margin: 0.02, fullFraction: 1 };

describe('data-efficiency factor', () => {
  it('f* is the smallest measured fraction from which msm stays within target + margin', () => {
    // Target 0.10, margin 2 points: msm is within (≤ 0.12) at 1 and 1/10, above at 1/40 and 1/60. f* = 1/10.
    const msm = curve([
      [1, 0.02],
      [1 / 10, 0.11],
      [1 / 40, 0.2],
      [1 / 60, 0.3],
    ]);
    expect(dataEfficiency(baseline, msm, 0.02)).toEqual({ ...basis, status: 'reached', fraction: 1 / 10, factor: 10 });
  });

  it('ignores a dip that a larger fraction undoes', () => {
    // Within at 1/40 (a lucky dip), above again at 1/10, within at 1: the dip does not count, f* = 1.
    const msm = curve([
      [1, 0.05],
      [1 / 10, 0.2],
      [1 / 40, 0.05],
      [1 / 60, 0.3],
    ]);
    expect(dataEfficiency(baseline, msm, 0.02)).toEqual({ ...basis, status: 'reached', fraction: 1, factor: 1 });
  });

  it('needs the margin: without one, a point estimate a hair above the target does not reach it', () => {
    const msm = curve([
      [1, 0.101],
      [1 / 10, 0.101],
    ]);
    expect(dataEfficiency(baseline, msm, 0)).toMatchObject({ status: 'not-reached', largestMsmRate: 0.101 });
    expect(dataEfficiency(baseline, msm, 0.02)).toMatchObject({ status: 'lower-bound', factor: 10 });
  });

  it('marks a factor the grid bounds as a lower bound ("≥")', () => {
    expect(
      dataEfficiency(
        baseline,
        curve([
          [1, 0.01],
          [1 / 60, 0.05],
        ]),
        0.02,
      ),
    ).toEqual({ ...basis, status: 'lower-bound', fraction: 1 / 60, factor: 60 });
  });

  it('says "not reached" when msm is above target + margin at its largest fraction', () => {
    expect(
      dataEfficiency(
        baseline,
        curve([
          [1, 0.13],
          [1 / 40, 0.01],
        ]),
        0.02,
      ),
    ).toEqual({ ...basis, status: 'not-reached', largestMsmRate: 0.13 });
  });

  it('handles a missing arm, empty cells and bad input without NaN', () => {
    expect(dataEfficiency([], curve([[1, 0.1]]), 0.02)).toEqual({ status: 'unavailable', reason: 'no baseline arm' });
    expect(dataEfficiency(baseline, [], 0.02)).toEqual({ status: 'unavailable', reason: 'no msm arm' });
    expect(
      dataEfficiency(
        curve([
          [1, null],
          [0.5, 0.2],
        ]),
        curve([[1, 0.1]]),
        0.02,
      ),
    ).toMatchObject({ status: 'unavailable', reason: expect.stringMatching(/full data/) });
    expect(dataEfficiency(baseline, curve([[1, null]]), 0.02)).toMatchObject({ status: 'unavailable' });
    // An empty msm cell drops out of the curve.
    expect(
      dataEfficiency(
        baseline,
        curve([
          [1, 0],
          [1 / 10, null],
          [1 / 40, 0.11],
        ]),
        0.02,
      ),
    ).toMatchObject({ status: 'lower-bound', factor: 40 });
    expect(() =>
      dataEfficiency(
        curve([
          [1, 0.1],
          [1, 0.2],
        ]),
        baseline,
        0.02,
      ),
    ).toThrow(/twice/);
    expect(() => dataEfficiency(curve([[0, 0.1]]), baseline, 0.02)).toThrow(/\(0, 1\]/);
    expect(() => dataEfficiency(baseline, baseline, -1)).toThrow(/margin/);
  });
});

describe('data-efficiency bootstrap', () => {
  const settings: BootstrapSettings = { resamples: 300, seed: 5, level: 0.95 };
  /** Twenty prompts per cell, each with the cell's rate (so the prompts agree and only sampling varies). */
  const cell = (rate: number, perPrompt: number): CellCounts => [
    {
      seed: 0,
      prompts: Array.from({ length: 20 }, (_, i) => ({
        prompt: `p${i}`,
        condition: `p${i}`,
        k: Math.round(rate * perPrompt),
        n: perPrompt,
      })),
    },
  ];
  const design = (groups: Record<string, CellCounts>) => new ClusterData(new Map(Object.entries(groups)));
  const groups = {
    baseline: [{ fraction: 1, group: 'b1' }],
    msm: [
      { fraction: 1, group: 'm1' },
      { fraction: 1 / 10, group: 'm10' },
      { fraction: 1 / 40, group: 'm40' },
    ],
  };

  it('recomputes f* per replicate; cells whose prompts agree give a point interval', () => {
    const data = design({ b1: cell(0.1, 100), m1: cell(0.05, 100), m10: cell(0.1, 100), m40: cell(0.3, 100) });
    const r = bootstrapDataEfficiency(data, groups, 0.02, settings);
    expect(r.estimate).toMatchObject({ status: 'reached', factor: 10 });
    expect(r.interval).toEqual({ lo: { status: 'reached', factor: 10 }, hi: { status: 'reached', factor: 10 } });
    expect(bootstrapDataEfficiency(data, groups, 0.02, settings)).toEqual(r);
  });

  it('prompts that disagree spread the factor over both censored ends', () => {
    // Half the prompts at 0, half at 0.2 in every cell: a replicate's rates swing with its prompt draw.
    const split = (): CellCounts => [
      {
        seed: 0,
        prompts: Array.from({ length: 20 }, (_, i) => ({
          prompt: `p${i}`,
          condition: `p${i}`,
          k: i < 10 ? 0 : 20,
          n: 100,
        })),
      },
    ];
    const one = design({ b1: [seedTotal(0, 10, 100)], m1: split(), m10: split(), m40: split() });
    // The baseline is one cluster here (totals only), msm swings: the interval runs from not reached to ≥ 40.
    const r = bootstrapDataEfficiency(one, groups, 0.02, settings);
    expect(r.interval!.lo.status).toBe('not-reached');
    expect(r.interval!.hi).toEqual({ status: 'lower-bound', factor: 40 });
  });

  it('has no interval when the factor is unavailable', () => {
    const data = design({ m1: cell(0.1, 10) });
    const r = bootstrapDataEfficiency(data, { baseline: [], msm: [{ fraction: 1, group: 'm1' }] }, 0.02, settings);
    expect(r).toEqual({ estimate: { status: 'unavailable', reason: 'no baseline arm' }, interval: null });
  });
});
