import { describe, expect, it } from 'vitest';
import { resolveArms } from '../../src/config/arms';
import { wilson } from '../../src/eval/stats';
import { renderHtml } from '../../src/report/html';
import { renderMarkdown } from '../../src/report/markdown';
import { buildResults, type ReportInput } from '../../src/report/results';
import { renderSvgPlot } from '../../src/report/svg-plot';
import { calibrationResult } from '../helpers/calibration';

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

type Cell = ReportInput['cells'][number];
const cell = (
  arm: 'baseline' | 'msm',
  fraction: number,
  seed: number,
  k: number,
  n: number,
  conditions?: Cell['conditions'],
): Cell => ({
  arm,
  fraction,
  seed,
  trainFinalLoss: 1.5,
  modelUri: `file:///runs/${arm}-${fraction}-${seed}`,
  eval: { k, n, samplesUri: `file:///evals/${arm}-${fraction}-${seed}/samples.jsonl`, judgeModel: 'judge' },
  conditions,
});
const ab = (a: [number, number], b: [number, number]) => [
  { condition: 'A', k: a[0], n: a[1] },
  { condition: 'B', k: b[0], n: b[1] },
];

const input = (cells: ReportInput['cells'], name = 'exp'): ReportInput => ({
  experiment: {
    name,
    workflowId: 'wf',
    specTitle: 'Spec',
    specHash: 'abc',
    specVariant: 'full',
    baseModel: 'tiny',
    corpus: {
      documents: 10,
      tokens: 1000,
      hash: 'h',
      truncated: 1,
      truncatedDropped: 2,
      duplicatesRemoved: 3,
      documentCostUsd: 4.5,
    },
    midtrain: { finalLoss: 2, steps: 5, checkpoint: 'file:///m' },
    evalSet: { sha256: 'e5', prompts: 2 },
  },
  cells,
  generatedAt: '2026-11-22T00:00:00Z',
  bootstrap: { resamples: 500, seed: 1, level: 0.95 },
  calibration: calibrationResult(),
});

// Pooled rates: baseline 1/1 = 10/100 (seeds 4/50 and 6/50), 1/40 = 50/100;
// msm 1/1 = 2/100, 1/10 = 5/100, 1/40 = 20/100, 1/60 = 30/100.
const study = input([
  cell('baseline', 1, 0, 4, 50),
  cell('baseline', 1, 1, 6, 50),
  cell('baseline', 1 / 40, 0, 50, 100, ab([20, 20], [30, 80])),
  cell('msm', 1, 0, 2, 100),
  cell('msm', 1 / 10, 0, 5, 100),
  cell('msm', 1 / 40, 0, 20, 100, ab([4, 20], [16, 80])),
  cell('msm', 1 / 60, 0, 30, 100),
]);

describe('results', () => {
  const results = buildResults(study);
  const point = (arm: string, label: string) =>
    results.curves.find((c) => c.arm === arm)!.points.find((p) => p.fractionLabel === label)!;

  it('pools seeds per arm and fraction, and names the cells each point comes from', () => {
    expect(results.format).toBe('msm-results-v4');
    const base = results.curves.find((c) => c.arm === 'baseline')!;
    expect(base.points.map((p) => [p.fractionLabel, p.seeds, p.misalignment.k, p.misalignment.n])).toEqual([
      ['1/1', 2, 10, 100],
      ['1/40', 1, 50, 100],
    ]);
    expect(point('baseline', '1/1').cellIds).toEqual(['baseline-1of1-s0', 'baseline-1of1-s1']);
    expect(results.cells).toHaveLength(7);
    expect(results.cells[0].misalignment.rate).toBe(0.08);
  });

  it('reports per-seed spread: baseline 1/1 seeds at 8% and 12%', () => {
    // mean 0.10, sd = sqrt(((0.02)² + (0.02)²)/1) = 0.0282843
    const s = point('baseline', '1/1').spread!;
    expect(s.mean).toBeCloseTo(0.1, 12);
    expect(s.sd).toBeCloseTo(0.0282843, 6);
    expect([s.min, s.max]).toEqual([0.08, 0.12]);
    expect(point('msm', '1/10').spread!.sd).toBeNull();
  });

  it('macro-averages conditions where every seed has the split, and only there', () => {
    // baseline 1/40: A 20/20 = 1.0, B 30/80 = 0.375 → macro 0.6875 while pooled is 0.5
    expect(point('baseline', '1/40').macro!.estimate).toBeCloseTo(0.6875, 12);
    expect(point('baseline', '1/40').macro!.conditions).toBe(2);
    expect(point('baseline', '1/40').misalignment.rate).toBe(0.5);
    expect(point('baseline', '1/1').macro).toBeNull();
  });

  it('gives msm − baseline per shared fraction with a bootstrap interval, the largest fraction primary', () => {
    expect(results.differences.map((d) => [d.role, d.fractionLabel])).toEqual([
      ['primary', '1/1'],
      ['secondary', '1/40'],
    ]);
    const [full, f40] = results.differences;
    expect(full.pooled!.estimate).toBeCloseTo(0.02 - 0.1, 12);
    expect(full.pooled!.lo).toBeLessThan(full.pooled!.estimate);
    expect(full.pooled!.hi).toBeGreaterThan(full.pooled!.estimate);
    expect(full.macro).toBeNull();
    expect(f40.pooled!.estimate).toBeCloseTo(0.2 - 0.5, 12);
    expect(f40.macro!.estimate).toBeCloseTo(0.2 - 0.6875, 12); // msm 1/40: A 4/20 = B 16/80 = 0.2
    expect(f40.cellIds).toEqual(['msm-1of40-s0', 'baseline-1of40-s0']);
  });

  it('computes the data-efficiency factor at a measured fraction: msm within 2 points of 10% from 1/10 up, 10×', () => {
    const d = results.dataEfficiency;
    expect(d.estimate).toMatchObject({ status: 'reached', fraction: 0.1, factor: 10, margin: 0.02 });
    expect(d.margin).toBe(0.02);
    expect(d.interval).not.toBeNull();
    expect(d.summary).toMatch(/10\.0× less AFT data/);
    expect(d.summary).toMatch(/from 1\/10 of the AFT data upward/);
  });

  it('keeps lineage: experiment inputs once, per-cell model, samples, judge and starting point', () => {
    expect(results.lineage).toMatchObject({
      spec: { title: 'Spec', variant: 'full', hash: 'abc' },
      baseModel: 'tiny',
      corpus: { hash: 'h' },
      midtrain: { checkpoint: 'file:///m', finalLoss: 2, steps: 5 },
      evalSet: { sha256: 'e5', prompts: 2 },
      judgeModels: ['judge'],
    });
    const m = results.cells.find((c) => c.id === 'msm-1of40-s0')!;
    expect(m).toMatchObject({
      startsFrom: 'file:///m',
      modelUri: 'file:///runs/msm-0.025-0',
      eval: { samplesUri: 'file:///evals/msm-0.025-0/samples.jsonl', judgeModel: 'judge' },
    });
    expect(results.cells.find((c) => c.id === 'baseline-1of1-s0')!.startsFrom).toBe('base model tiny');
    expect(JSON.stringify(results)).not.toMatch(/NaN|Infinity/);
  });

  it('rejects a per-condition split that does not add up to the cell', () => {
    expect(() => buildResults(input([cell('msm', 1, 0, 3, 10, ab([1, 5], [1, 5]))]))).toThrow(
      /add up to 2\/10 but the cell has 3\/10/,
    );
  });

  it('plots the cluster-bootstrap interval and keeps the Wilson one beside it for comparison', () => {
    const p = point('baseline', '1/1');
    expect(p.wilson).toMatchObject({ k: 10, n: 100 });
    expect(p.misalignment.rate).toBe(0.1);
    // Two seeds (8% and 12%) resampled as clusters: not the Wilson interval of 10/100.
    expect(p.misalignment.lo).not.toBeCloseTo(p.wilson.lo, 6);
  });

  it('says "no samples" for a difference whose msm cell has nothing judged, and handles equal rates', () => {
    const r = buildResults(
      input([
        cell('baseline', 1, 0, 2, 10),
        cell('msm', 1, 0, 0, 0),
        cell('baseline', 0.5, 0, 2, 10),
        cell('msm', 0.5, 0, 2, 10),
      ]),
    );
    expect(r.differences.map((d) => [d.fractionLabel, d.pooled?.estimate ?? null])).toEqual([
      ['1/1', null],
      ['1/2', 0],
    ]);
    expect(r.differences[1].pooled).toMatchObject({ lo: expect.any(Number), hi: expect.any(Number) });
    // msm's only judged point (1/2) equals the target: a lower bound of 2×, not a division by zero.
    expect(r.dataEfficiency.estimate).toEqual({
      status: 'lower-bound',
      target: 0.2,
      margin: 0.02,
      fullFraction: 1,
      fraction: 0.5,
      factor: 2,
    });
    const md = renderMarkdown(r);
    expect(md).toContain('| primary | msm − baseline | 1/1 | — vs 20.0% | no samples | — | — | — | — | — |');
    expect(md).toMatch(/at least 2\.00× less AFT data/);
    const svg = renderSvgPlot(r);
    expect(md + svg).not.toMatch(/NaN|Infinity|undefined/);
    expect(attrs(svg, /<circle class="point" data-arm="msm"/)).toHaveLength(1); // the empty 1/1 cell is not drawn at 0%
  });

  it('stays free of NaN with a single arm, a single fraction and an empty cell', () => {
    const one = buildResults(input([cell('msm', 1, 0, 0, 0)]));
    expect(one.dataEfficiency.estimate).toEqual({ status: 'unavailable', reason: 'no baseline arm' });
    expect(one.curves[0].points[0].misalignment).toMatchObject({ k: 0, n: 0 });
    expect(one.curves[0].points[0].spread).toBeNull();
    expect(one.differences).toEqual([]);
    const text = JSON.stringify(one) + renderSvgPlot(one) + renderHtml(one, renderSvgPlot(one)) + renderMarkdown(one);
    expect(text).not.toMatch(/NaN|Infinity|undefined/);
  });
});

/** Attribute values of every element whose tag matches. */
const attrs = (svg: string, tag: RegExp) =>
  [...svg.matchAll(/<(\w+)([^>]*)>/g)]
    .filter((m) => tag.test(m[0]))
    .map((m) => Object.fromEntries([...m[2].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])));

describe('plot', () => {
  const results = buildResults(study);
  const svg = renderSvgPlot(results);

  it('places fractions on a log axis: 1/1, 1/4, 1/40 spaced by log 4 : log 40', () => {
    const r = buildResults(
      input([cell('msm', 1, 0, 1, 10), cell('msm', 1 / 4, 0, 2, 10), cell('msm', 1 / 40, 0, 5, 10)]),
    );
    const ticks = new Map(
      attrs(renderSvgPlot(r), /class="x-tick"/).map((a) => [Number(a['data-fraction']), Number(a.x1)]),
    );
    const [x1, x4, x40] = [ticks.get(1)!, ticks.get(0.25)!, ticks.get(0.025)!];
    expect(x1).toBeGreaterThan(x4);
    expect(x4).toBeGreaterThan(x40);
    // log 4 / log 40 = 0.60206 / 1.60206 = 0.37581; linear spacing would give 0.75 / 0.975 = 0.769
    expect((x1 - x4) / (x1 - x40)).toBeCloseTo(0.37581, 3);
    expect(renderSvgPlot(r)).toContain('>1/4<');
  });

  it('draws one path per arm, one marker and whisker per point, a legend and axis labels', () => {
    expect(attrs(svg, /class="arm-line"/).map((a) => a['data-arm'])).toEqual(['baseline', 'msm']);
    expect(attrs(svg, /<circle class="point"/)).toHaveLength(6);
    expect(attrs(svg, /class="whisker"/)).toHaveLength(6);
    expect(svg).toContain('AFT data fraction (log scale)');
    expect(svg).toContain('misalignment rate');
    expect(svg).toMatch(/<g class="legend">.*>baseline<.*>msm<.*>baseline at 1\/1 \(10\.0%\)</s);
    for (const label of ['1/1', '1/10', '1/40', '1/60']) expect(svg).toContain(`>${label}<`);
  });

  it("draws the baseline's full-data rate as a dashed line through its 1/1 point", () => {
    const [ref] = attrs(svg, /class="reference"/);
    expect(ref['stroke-dasharray']).toBeTruthy();
    expect(ref.y1).toBe(ref.y2);
    const basePoints = attrs(svg, /<circle class="point" data-arm="baseline"/);
    const fullX = Math.max(...basePoints.map((p) => Number(p.cx)));
    expect(Number(ref.y1)).toBeCloseTo(Number(basePoints.find((p) => Number(p.cx) === fullX)!.cy), 6);
  });

  it('puts a single fraction in the middle without NaN', () => {
    const one = renderSvgPlot(buildResults(input([cell('msm', 1, 0, 1, 4)])));
    expect(one).not.toContain('NaN');
    expect(attrs(one, /class="x-tick"/)).toHaveLength(1);
  });
});

describe('pages', () => {
  const results = buildResults(study);

  it('HTML: the answer in words, a row per arm × fraction, the differences, and escaped names', () => {
    const html = renderHtml(results, renderSvgPlot(results));
    expect(html).toContain(results.dataEfficiency.summary);
    expect(html).toMatch(/<td>baseline<\/td><td>1\/1<\/td><td>2<\/td><td>10\/100<\/td><td>10\.0%<\/td>/);
    expect(html).toMatch(
      /<td>secondary<\/td><td>msm − baseline<\/td><td>1\/40<\/td><td>20\.0% vs 50\.0%<\/td><td>−30\.0 pp<\/td>/,
    );
    const evil = buildResults(input([cell('msm', 1, 0, 1, 4)], '<script>alert(1)</script>'));
    const page = renderHtml(evil, renderSvgPlot(evil));
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('&lt;script&gt;');
    expect(page).toContain('25.0%');
  });

  it('Markdown: the same answer, tables and lineage', () => {
    const md = renderMarkdown(results);
    expect(md).toContain(`> ${results.dataEfficiency.summary}`);
    expect(md).toContain('| baseline | 1/1 | 2 | 10/100 | 10.0% |');
    expect(md).toContain('| secondary | msm − baseline | 1/40 | 20.0% vs 50.0% | −30.0 pp |');
    expect(md).toContain('- spec hash: abc');
  });
});

describe('a report of every kind of arm', () => {
  it('draws each trained arm as a curve and each control as a line, in the order the arms are listed', () => {
    const trained = ['baseline', 'msm', 'deliberative', 'spec-in-context'];
    const cells: ReportInput['cells'] = trained.flatMap((arm) =>
      [1, 0.5].map((fraction) => ({ ...cell('baseline', fraction, 0, 2, 8), arm })),
    );
    const control = (arm: string, modelUri: string | null) => ({
      arm,
      seed: 0,
      modelUri,
      eval: { k: 3, n: 8, samplesUri: `file:///evals/${arm}.jsonl`, judgeModel: 'judge' },
    });
    const r = buildResults({
      ...input(cells),
      arms: resolveArms(['base', 'msm-only', 'baseline', 'msm', 'deliberative', 'spec-in-context']),
      controls: [control('base', null), control('msm-only', 'file:///m')],
    });
    expect(r.arms.map((a) => a.name)).toEqual(['base', 'msm-only', ...trained]);
    expect(r.curves.map((c) => c.arm)).toEqual(trained);
    expect(r.controls.map((c) => [c.id, c.modelUri === null, c.misalignment.n])).toEqual([
      ['base-s0', true, 8],
      ['msm-only-s0', false, 8],
    ]);
    expect(r.controls[0].startsFrom).toBe('base model tiny');
    expect(r.controls[1].startsFrom).toBe('file:///m');
    const svg = renderSvgPlot(r);
    for (const arm of trained) expect(svg).toContain(`class="arm-line" data-arm="${arm}"`);
    for (const arm of ['base', 'msm-only'])
      expect(svg).toMatch(new RegExp(`<line class="control" data-arm="${arm}"[^>]*y1="([\\d.]+)" y2="\\1"`));
    const md = renderMarkdown(r);
    expect(md).toContain('| base | none (control) | 1 (eval seed 0) | 3/8 |');
    expect(md).toContain('| msm-only | none (control) | 1 (eval seed 0) | 3/8 |');
    expect(md).toContain('| deliberative | base | with-reasoning |');
  });
});
