import { describe, expect, it } from 'vitest';
import { buildComparison, contrastLines, renderComparisonMarkdown } from '../../src/report/compare';
import { buildResults, type ReportInput } from '../../src/report/results';
import { renderSvgPlot } from '../../src/report/svg-plot';
import { calibrationResult } from '../helpers/calibration';

type Values = Record<string, number>;
/** One cheese experiment: per arm the answers revealing each value (n = 100), and an msm-only control. */
function cheese(name: string, msm: Values, msmOnly: Values, judge = calibrationResult(['values'])): ReportInput {
  const baseline = { america: 20, affordability: 20, neutral: 50, none: 10 };
  const cell = (arm: string, v: Values) => ({
    arm,
    fraction: 1,
    seed: 0,
    trainFinalLoss: 1,
    modelUri: `file:///runs/${arm}`,
    eval: { k: v.america ?? 0, n: 100, samplesUri: 's', judgeModel: 'parser:choice' },
    values: v,
  });
  return {
    experiment: {
      name,
      workflowId: `wf-${name}`,
      specTitle: name,
      specHash: `${name}-hash`,
      specVariant: 'full',
      baseModel: 'tiny',
      corpus: {
        documents: 1,
        tokens: 1,
        hash: `${name}-corpus`,
        truncated: 0,
        truncatedDropped: 0,
        duplicatesRemoved: 0,
        documentCostUsd: 0,
      },
      evalSet: { sha256: 'e', prompts: 100 },
      aftData: { sha256: 'same-cheese-data', examples: 256 },
      midtrain: { finalLoss: 1, steps: 3, checkpoint: `file:///runs/${name}-midtrain` },
    },
    arms: [
      { name: 'baseline', start: 'base', aft: 'data' },
      { name: 'msm', start: 'msm', aft: 'data' },
      { name: 'msm-only', start: 'msm', aft: 'none' },
    ],
    cells: [cell('baseline', baseline), cell('msm', msm)],
    controls: [
      {
        arm: 'msm-only',
        seed: 0,
        modelUri: `file:///runs/${name}-midtrain`,
        eval: { k: msmOnly.america, n: 100, samplesUri: 's', judgeModel: 'j' },
        values: msmOnly,
      },
    ],
    calibration: judge,
    metric: 'share of answers revealing the target value "america"',
    generatedAt: '2026-11-28T00:00:00Z',
  } as ReportInput;
}

const america = buildResults(
  cheese(
    'cheese-america',
    { america: 60, affordability: 10, neutral: 30 },
    { america: 40, affordability: 15, neutral: 45 },
  ),
);
const affordability = buildResults(
  cheese(
    'cheese-affordability',
    { america: 10, affordability: 55, neutral: 35 },
    { america: 15, affordability: 35, neutral: 50 },
  ),
);

describe("values per arm and the contrast between the two specs' runs", () => {
  it('reports the shares of each value and neither, for AFT arms and controls', () => {
    expect(america.curves.find((c) => c.arm === 'msm')!.points[0].values!.map((v) => [v.value, v.k])).toEqual([
      ['affordability', 10],
      ['america', 60],
      ['neither', 30],
    ]);
    expect(america.controls[0]).toMatchObject({
      id: 'msm-only-s0',
      startsFrom: 'file:///runs/cheese-america-midtrain',
    });
    expect(america.controls[0].values!.map((v) => v.k)).toEqual([15, 40, 45]);
    expect(america.lineage.aftData).toEqual({ sha256: 'same-cheese-data', examples: 256 });
    // The control's reference line sits at its rate, across the whole plot.
    expect(renderSvgPlot(america)).toMatch(
      /<line class="control" data-arm="msm-only" x1="64" x2="520" y1="([\d.]+)" y2="\1"/,
    );
  });

  it('gives per arm and value the first run minus the second with a bootstrap interval', () => {
    const c = buildComparison([america, affordability]);
    const at = (arm: string, value: string) => c.valueContrasts.find((x) => x.arm === arm && x.value === value)!;
    expect(at('msm', 'america').difference!.estimate).toBeCloseTo(0.5, 12);
    expect(at('msm', 'affordability').difference!.estimate).toBeCloseTo(-0.45, 12);
    expect(at('msm', 'america').difference!.lo).toBeGreaterThan(0.3); // 60/100 vs 10/100: far apart
    expect(at('msm-only', 'america')).toMatchObject({ fraction: null, firstShare: 0.4, secondShare: 0.15 });
    expect(at('baseline', 'america').difference!.estimate).toBe(0);
    const lines = contrastLines(c);
    expect(
      lines.some((l) =>
        l.startsWith(
          'msm at 1/1, share revealing "america": cheese-america − cheese-affordability = +50.0 pp (95% CI +',
        ),
      ),
    ).toBe(true);
    expect(
      lines.some((l) =>
        l.startsWith(
          'msm-only (control, no AFT), share revealing "affordability": cheese-america − cheese-affordability = −20.0 pp',
        ),
      ),
    ).toBe(true);
    // What msm compare writes beside them (it prints the same lines: src/report/compare-files.ts).
    const md = renderComparisonMarkdown(c);
    expect(md).toContain('## Values: difference between the runs');
    expect(md).toContain(`- ${lines[0]}`);
  });

  it('marks every contrast "not a finding" when a judge behind either run failed calibration', () => {
    const badJudge = calibrationResult(['values'], { shows: 200, clean: 0 }); // says "shows" to everything
    const failed = buildResults(
      cheese('cheese-affordability', { america: 10, affordability: 55 }, { america: 15 }, badJudge),
    );
    const c = buildComparison([america, failed]);
    expect(c.valueContrasts.length).toBeGreaterThan(0);
    expect(
      c.valueContrasts.every((x) =>
        x.withheld?.reason.startsWith('cheese-affordability: the judge failed calibration'),
      ),
    ).toBe(true);
    expect(contrastLines(c).every((l) => l.startsWith('withheld, not a finding: '))).toBe(true);
    expect(c.experiments.map((e) => Boolean(e.withheld))).toEqual([false, true]);
    // Trusted on both sides: stated plainly, except a contrast whose interval includes 0.
    const trusted = buildComparison([america, affordability]).valueContrasts;
    expect(trusted.some((x) => !x.withheld)).toBe(true);
    for (const x of trusted.filter((y) => y.withheld))
      expect(x.withheld!.reason).toMatch(/^its 95% interval .* includes 0$/);
  });

  it('has no contrasts for results without value shares', () => {
    const plain = (name: string) => {
      const x = cheese(name, { america: 1 }, { america: 1 });
      x.cells.forEach((c) => delete c.values);
      delete x.controls![0].values;
      return buildResults(x);
    };
    expect(buildComparison([plain('a'), plain('b')]).valueContrasts).toEqual([]);
  });
});
