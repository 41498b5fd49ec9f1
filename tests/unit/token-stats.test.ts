import { describe, expect, it } from 'vitest';
import { buildResults } from '../../src/report/results';
import { lineageRows } from '../../src/report/tables';
import { logBins, summarizeTokenCounts, tokenHistogramSvg } from '../../src/tokenize/token-stats';

describe('token length statistics', () => {
  it('summary: nearest-rank median and p95, by hand', () => {
    // Sorted: 1 2 3 ... 20; nearest rank: median = the 10th, p95 = the 19th.
    const counts = Array.from({ length: 20 }, (_, i) => 20 - i);
    expect(summarizeTokenCounts(counts)).toEqual({
      documents: 20,
      totalTokens: 210,
      min: 1,
      median: 10,
      p95: 19,
      max: 20,
      mean: 10.5,
    });
    expect(summarizeTokenCounts([7])).toEqual({
      documents: 1,
      totalTokens: 7,
      min: 7,
      median: 7,
      p95: 7,
      max: 7,
      mean: 7,
    });
    expect(summarizeTokenCounts([])).toMatchObject({ documents: 0, totalTokens: 0 });
  });

  it('log bins cover every count once, edges rise by about 2^(1/4)', () => {
    const counts = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 4000];
    const bins = logBins(counts);
    expect(bins[0].lo).toBe(0);
    expect(bins.at(-1)!.hi).toBeGreaterThan(4000);
    for (let i = 1; i < bins.length; i++) expect(bins[i].lo).toBe(bins[i - 1].hi);
    for (const c of counts) expect(bins.filter((b) => b.lo <= c && c < b.hi)).toHaveLength(1);
    for (const b of bins) expect(b.count).toBe(counts.filter((c) => b.lo <= c && c < b.hi).length);
    // Past the small integers, each bin is about 19% wider than the one before.
    const wide = bins.filter((b) => b.lo >= 64);
    for (const b of wide) expect(b.hi / b.lo).toBeGreaterThan(1.15);
    for (const b of wide) expect(b.hi / b.lo).toBeLessThan(1.25);
  });

  it('the SVG is one well-formed document with a bar per bin and the summary in its subtitle', () => {
    const counts = [120, 340, 341, 900, 2500, 4800];
    const svg = tokenHistogramSvg(counts, 'Lengths <qwen2.5>');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('Lengths &lt;qwen2.5&gt;');
    expect(svg).toContain('6 documents, 9001 tokens; min 120, median 341, p95 4800, max 4800');
    const bars = [
      ...svg.matchAll(
        /class="bin" data-lo="(\d+)" data-hi="(\d+)" data-count="(\d+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/g,
      ),
    ];
    expect(bars.map((m) => Number(m[3])).reduce((a, b) => a + b, 0)).toBe(6);
    // Taller bar = more documents; x rises with the bin.
    const two = bars.find((m) => m[3] === '2')!;
    const one = bars.find((m) => m[3] === '1')!;
    expect(Number(two[7])).toBeCloseTo(2 * Number(one[7]), 0);
    const xs = bars.map((m) => Number(m[4]));
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(tokenHistogramSvg([], 'empty')).toContain('no documents');
  });
});

describe('report lineage', () => {
  const experiment = {
    name: 'e',
    workflowId: 'wf',
    specTitle: 'Spec',
    specHash: 'abc',
    specVariant: 'full',
    baseModel: 'tiny',
    corpus: {
      documents: 10,
      tokens: 1000,
      hash: 'h',
      truncated: 0,
      truncatedDropped: 0,
      duplicatesRemoved: 0,
      documentCostUsd: 0,
    },
  };
  const cells = [
    {
      arm: 'msm' as const,
      fraction: 1,
      seed: 0,
      trainFinalLoss: 1,
      modelUri: 'file:///m',
      eval: { k: 1, n: 4, samplesUri: 'file:///s', judgeModel: 'j' },
    },
  ];

  it('names the corpus token-length histogram when the tokenize stage recorded one, and nothing otherwise', () => {
    const tokenLengths = {
      min: 3,
      median: 90,
      p95: 400,
      max: 512,
      histogramUri: 'file:///t/token-lengths.svg',
      documentTokensUri: 'file:///t/document-tokens.jsonl',
    };
    const withStats = lineageRows(
      buildResults({
        experiment: { ...experiment, corpus: { ...experiment.corpus, tokenLengths } },
        cells,
        generatedAt: 'now',
      }),
    );
    expect(withStats).toContainEqual([
      'corpus token lengths',
      'per document: min 3, median 90, p95 400, max 512 — histogram file:///t/token-lengths.svg; counts file:///t/document-tokens.jsonl',
    ]);
    const without = lineageRows(buildResults({ experiment, cells, generatedAt: 'now' }));
    expect(without.map(([k]) => k)).not.toContain('corpus token lengths');
  });

  it('says in the lineage whether the corpus reached generation.targetTokens, and by how much it fell short', () => {
    const target = {
      targetTokens: 41_000_000,
      estimatedTokens: 40_100_000,
      topUpRounds: 3,
      reached: false,
      shortBy: 900_000,
      why: '3 top-up rounds spent',
    };
    const rows = lineageRows(
      buildResults({
        experiment: { ...experiment, corpus: { ...experiment.corpus, target } },
        cells,
        generatedAt: 'now',
      }),
    );
    expect(rows).toContainEqual([
      'corpus target',
      'target NOT reached: 40.1M of 41.0M estimated tokens, short by 0.9M after 3 top-up rounds (3 top-up rounds spent)',
    ]);
    const none = lineageRows(buildResults({ experiment, cells, generatedAt: 'now' }));
    expect(none.map(([k]) => k)).not.toContain('corpus target');
  });
});
