import { describe, expect, it } from 'vitest';
import { wilson } from '../src/eval/stats';
import { renderHtml } from '../src/report/html';
import { buildResults, type ReportInput } from '../src/report/results';
import { renderSvgPlot } from '../src/report/svg-plot';

describe('wilson interval', () => {
  it('matches hand-computed values', () => {
    // k=0, n=10: centre = (z²/20)/(1+z²/10) = 0.19208/1.38415 = 0.13877; half = z*sqrt(z²/400)/1.38415 = 0.13877 → [0, 0.2775]
    const a = wilson(0, 10);
    expect(a.lo).toBe(0);
    expect(a.hi).toBeCloseTo(0.2775, 4);
    // k=5, n=10: centre 0.5, half = 1.96*sqrt(0.025+0.0096)/1.38415 = 0.2634 → [0.2366, 0.7634]
    const b = wilson(5, 10);
    expect(b.lo).toBeCloseTo(0.2366, 4);
    expect(b.hi).toBeCloseTo(0.7634, 4);
    // k=81, n=263: p=0.30798; centre=(0.30798+0.0073036)/1.014607=0.31074; half=1.96*sqrt(0.00081044+0.0000139)/1.014607=0.05547
    const c = wilson(81, 263);
    expect(c.lo).toBeCloseTo(0.2553, 3);
    expect(c.hi).toBeCloseTo(0.3662, 3);
    expect(wilson(10, 10).hi).toBeCloseTo(1, 12);
    expect(wilson(0, 0)).toEqual({ k: 0, n: 0, rate: 0, lo: 0, hi: 1 });
    expect(() => wilson(3, 2)).toThrow(/0 <= k <= n/);
  });
});

const cell = (arm: 'baseline' | 'msm', fraction: number, seed: number, k: number, n: number) => ({
  arm,
  fraction,
  seed,
  trainFinalLoss: 1.5,
  modelUri: `file:///runs/${arm}-${fraction}-${seed}`,
  eval: { k, n, unjudged: 0, samplesUri: 'file:///s.jsonl', judgeModel: 'judge' },
});

const input = (cells: ReportInput['cells'], name = 'exp'): ReportInput => ({
  experiment: {
    name,
    workflowId: 'wf',
    specTitle: 'Spec',
    specHash: 'abc',
    specVariant: 'full',
    baseModel: 'tiny',
    corpus: { documents: 10, tokens: 1000, hash: 'h', truncated: 1 },
    midtrain: { finalLoss: 2, steps: 5, checkpoint: 'file:///m' },
  },
  cells,
  generatedAt: '2026-11-22T00:00:00Z',
});

describe('report', () => {
  const results = buildResults(
    input([cell('baseline', 1, 0, 6, 10), cell('baseline', 1, 1, 4, 10), cell('baseline', 0.025, 0, 9, 10), cell('msm', 1, 0, 1, 10), cell('msm', 0.025, 0, 2, 10)]),
  );

  it('pools seeds per arm and fraction', () => {
    const base = results.curves.find((c) => c.arm === 'baseline')!;
    expect(base.points.map((p) => [p.fractionLabel, p.seeds, p.misalignment.k, p.misalignment.n])).toEqual([
      ['1/1', 2, 10, 20],
      ['1/40', 1, 9, 10],
    ]);
    expect(results.cells).toHaveLength(5);
    expect(results.cells[0].misalignment.rate).toBe(0.6);
  });

  it('draws one line per arm and one marker per point', () => {
    const svg = renderSvgPlot(results);
    expect(svg.match(/class="arm-line"/g)).toHaveLength(2);
    expect(svg.match(/<circle class="point"/g)).toHaveLength(4);
    expect(svg).toContain('1/40');
  });

  it('works with a single fraction and escapes names in HTML', () => {
    const one = buildResults(input([cell('msm', 1, 0, 1, 4)], '<script>alert(1)</script>'));
    const svg = renderSvgPlot(one);
    expect(svg).not.toContain('NaN');
    const html = renderHtml(one, svg);
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('25.0%');
  });
});
