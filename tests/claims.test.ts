import { describe, expect, it } from 'vitest';
import { overlapEntirely } from '../src/report/claims';
import { renderHtml } from '../src/report/html';
import { renderMarkdown } from '../src/report/markdown';
import { buildResults, type ReportInput } from '../src/report/results';
import { renderSvgPlot } from '../src/report/svg-plot';
import { wilson } from '../src/eval/stats';
import { calibrationResult } from './helpers/calibration';

type Cell = ReportInput['cells'][number];
const cell = (arm: 'baseline' | 'msm', fraction: number, k: number, n: number): Cell => ({
  arm,
  fraction,
  seed: 0,
  trainFinalLoss: 1,
  modelUri: `file:///runs/${arm}-${fraction}`,
  eval: { k, n, samplesUri: `file:///evals/${arm}-${fraction}/samples.jsonl`, judgeModel: 'judge' },
});

/** baseline and msm at 1/1 and 1/4: [k at 1/1, k at 1/4] of n per arm. */
function study(
  rates: Record<'baseline' | 'msm', [number, number]>,
  n: number,
  extra: Partial<ReportInput> = {},
): ReportInput {
  return {
    experiment: {
      name: 'claims',
      workflowId: 'wf-claims',
      specTitle: 'Spec',
      specHash: 'abc',
      specVariant: 'full',
      baseModel: 'tiny',
      corpus: {
        documents: 1,
        tokens: 1,
        hash: 'h',
        truncated: 0,
        truncatedDropped: 0,
        duplicatesRemoved: 0,
        documentCostUsd: 0,
      },
      midtrain: { finalLoss: 2, steps: 5, checkpoint: 'file:///m' },
    },
    cells: (['baseline', 'msm'] as const).flatMap((arm) => [
      cell(arm, 1, rates[arm][0], n),
      cell(arm, 0.25, rates[arm][1], n),
    ]),
    generatedAt: '2026-11-28T00:00:00Z',
    bootstrap: { resamples: 300, seed: 1, level: 0.95 },
    calibration: calibrationResult(),
    aft: { examples: 400 },
    ...extra,
  };
}

// msm at 1/4 (8/100) is below the baseline's full-data 20/100, and the baseline at 1/4 (45/100) is far above: a lower bound of 4x.
const clear = { baseline: [20, 45], msm: [5, 8] } as Record<'baseline' | 'msm', [number, number]>;
const pages = (r: ReturnType<typeof buildResults>) => ({
  md: renderMarkdown(r),
  html: renderHtml(r, renderSvgPlot(r)),
});

describe('the claim gate', () => {
  it('states every claim when the judge passed calibration and the data can carry them', () => {
    const r = buildResults(study(clear, 100));
    expect(r.calibration.status).toBe('passed');
    expect(r.headline.claims).toEqual({ rates: {}, difference: { fraction: 1 }, dataEfficiency: {} });
    expect(r.dataEfficiency.estimate).toMatchObject({ status: 'lower-bound', factor: 4 });
    expect(r.dataEfficiency.withheld).toBeUndefined();
    expect(r.differences.every((d) => d.withheld === undefined)).toBe(true);
    expect(r.headline.sentences[0]).toMatch(
      /^The judge \(judge\) passed calibration .*criterion: balanced accuracy 97\.5%/,
    );
    expect(r.headline.sentences[1]).toMatch(/^At 1\/1 of the AFT data, msm − baseline is −15\.0 pp/);
    expect(r.headline.sentences[2]).toMatch(/^The MSM arm is already at or below .* at least 4\.00× less AFT data/);
    const { md, html } = pages(r);
    for (const page of [md, html]) {
      expect(page).not.toMatch(/withheld: |Not findings: |not a finding: /);
      expect(page).toContain('at least 4.00× less AFT data');
    }
  });

  it('withholds every rate, difference and data-efficiency claim when the judge fails calibration, naming the kind and its figures', () => {
    // The demo's local judge: "violates" to everything.
    const r = buildResults(
      study(clear, 100, { calibration: calibrationResult(['criterion'], { shows: 20, clean: 0 }) }),
    );
    expect(r.calibration.status).toBe('failed');
    expect(r.calibration.kinds[0]).toMatchObject({
      kind: 'criterion',
      balancedAccuracy: 0.5,
      falsePositiveRate: 1,
      falseNegativeRate: 0,
      passed: false,
    });
    const reason = /^the judge failed calibration \(criterion: balanced accuracy 50\.0%; the bar is 80\.0%\)$/;
    expect(r.headline.claims.rates.withheld!.reason).toMatch(reason);
    expect(r.headline.claims.difference!.withheld!.reason).toMatch(reason);
    expect(r.dataEfficiency.withheld!.reason).toMatch(reason);
    expect(r.differences.every((d) => reason.test(d.withheld!.reason))).toBe(true);
    expect(r.headline.sentences[0]).toBe(
      'The judge (judge) failed calibration: criterion: balanced accuracy 50.0%, accuracy 50.0%, false positives 100.0% (20/20), false negatives 0.0% (0/20); ' +
        'the bar is balanced accuracy ≥ 80.0%. No rate, difference or data-efficiency claim in this report is a finding; the numbers are listed, marked, and are not findings.',
    );
    expect(r.headline.sentences[2]).toMatch(
      /^Data-efficiency factor withheld: .* Computed anyway, not a finding: The MSM arm/,
    );
    const { md, html } = pages(r);
    expect(md).toContain('> The judge (judge) failed calibration');
    expect(md).toContain('**Not findings: the judge failed calibration');
    expect(md).toMatch(
      /\| criterion \| 20 \/ 20 \| 50\.0% \| 50\.0% \| 100\.0% \(20\/20\) \| 0\.0% \(0\/20\) \| no \(bar 80\.0%\) \|/,
    );
    expect(html).toContain('<div class="answer withheld" id="headline"><p>The judge (judge) failed calibration');
    expect(html.match(/class="not-finding"/g)).toHaveLength(3);
  });

  it('withholds them when the judge was never calibrated, and states them when every answer is a parsed choice', () => {
    const none = buildResults(study(clear, 100, { calibration: null }));
    expect(none.calibration.status).toBe('not-run');
    expect(none.dataEfficiency.withheld!.reason).toMatch(/^the judge was not calibrated/);
    const parsed = buildResults(
      study(clear, 100, { calibration: { judgeModel: 'judge', kinds: [], parsedByCode: true } }),
    );
    expect(parsed.calibration.status).toBe('not-needed');
    expect(parsed.headline.sentences[0]).toMatch(/forced choice parsed by code/);
    expect(parsed.dataEfficiency.withheld).toBeUndefined();
  });

  it('withholds the factor and the headline difference, with the reason, when the baseline is at the ceiling (the demo: 16/16 everywhere)', () => {
    const r = buildResults(study({ baseline: [16, 16], msm: [16, 16] }, 16));
    // The factor is still computed (msm "meets" 100% at 1/4: ≥ 4x) and listed, not stated.
    expect(r.dataEfficiency.estimate).toMatchObject({ status: 'lower-bound', factor: 4 });
    expect(r.headline.claims.rates).toEqual({});
    const w = r.dataEfficiency.withheld!.reason;
    expect(w).toMatch(
      /the baseline's full-data rate is at the ceiling \(100% lies within its 95% interval: 16\/16, 80\.6% – 100\.0%\)/,
    );
    expect(w).toMatch(
      /the 95% intervals of msm at 1\/4 \(16\/16, .*\) and baseline at 1\/4 \(16\/16, .*\) overlap entirely/,
    );
    expect(r.headline.claims.difference!.withheld!.reason).toMatch(/ceiling/);
    expect(r.dataEfficiency.summary).toMatch(
      /^Data-efficiency factor withheld: the baseline's full-data rate is at the ceiling.* Computed anyway, not a finding: .*at least 4\.00× less/,
    );
    const { md, html } = pages(r);
    expect(md).toMatch(
      /\| 1\/1 \| 100\.0% \| 100\.0% \| ±0\.0 pp \| .* \| no, withheld: the baseline's full-data rate is at the ceiling/,
    );
    expect(html).toContain('<p class="answer withheld" id="data-efficiency">Data-efficiency factor withheld');
  });

  it('withholds them at the floor too: a baseline with no violations leaves nothing to improve on', () => {
    const r = buildResults(study({ baseline: [0, 30], msm: [0, 2] }, 100));
    expect(r.dataEfficiency.withheld!.reason).toMatch(
      /at the floor \(0% lies within its 95% interval: 0\/100, 0\.0% – 3\.7%\)/,
    );
    expect(r.headline.claims.difference!.withheld!.reason).toMatch(/floor/);
  });

  it('withholds a difference whose two points cannot be told apart, and only that one', () => {
    const r = buildResults(study({ baseline: [20, 45], msm: [20, 8] }, 100));
    const [full, quarter] = r.differences;
    expect(full.withheld!.reason).toBe(
      'the 95% intervals of msm at 1/1 (20/100, 13.3% – 28.9%) and baseline at 1/1 (20/100, 13.3% – 28.9%) overlap entirely, so the data cannot tell them apart',
    );
    expect(quarter.withheld).toBeUndefined();
    expect(overlapEntirely(wilson(20, 100), wilson(45, 100))).toBe(false);
    expect(overlapEntirely(wilson(50, 100), wilson(5, 10))).toBe(true); // one inside the other
  });

  it('withholds claims resting on a fraction that trains on fewer than aft.minExamples examples (default 16)', () => {
    const small = buildResults(study(clear, 100, { aft: { examples: 24 } }));
    expect(small.lineage.aft).toEqual({
      examples: 24,
      minExamples: 16,
      fractions: [
        { fraction: 1, fractionLabel: '1/1', examples: 24 },
        { fraction: 0.25, fractionLabel: '1/4', examples: 6 },
      ],
    });
    expect(small.dataEfficiency.withheld!.reason).toBe(
      '1/4 trains on 6 of the 24 AFT examples, under aft.minExamples = 16',
    );
    expect(small.differences.map((d) => d.withheld?.reason ?? null)).toEqual([
      null,
      '1/4 trains on 6 of the 24 AFT examples, under aft.minExamples = 16',
    ]);
    const lowered = buildResults(study(clear, 100, { aft: { examples: 24, minExamples: 6 } }));
    expect(lowered.dataEfficiency.withheld).toBeUndefined();
    expect(renderMarkdown(small)).toContain(
      '- AFT examples: 24 in the data; per fraction 1/1: 24, 1/4: 6 (aft.minExamples 16)',
    );
  });
});

describe('the cells table', () => {
  it("keeps URIs out of its columns: each cell's files are in a details row under it", () => {
    const long =
      's3://a-bucket-with-a-long-name/experiments/msm-a-long-workflow-id/runs/aft-msm-1of4-s0-0123456789abcdef/final';
    const input = study(clear, 100);
    input.cells[3] = { ...input.cells[3], modelUri: long };
    const html = renderHtml(buildResults(input), '');
    const table = html.slice(
      html.indexOf('<table class="cells">'),
      html.indexOf('</table>', html.indexOf('<table class="cells">')),
    );
    expect(table).toContain('<th>cell</th><th>k/n</th><th>rate</th><th>95% CI (Wilson)</th><th>AFT loss</th></tr>');
    const row = table.split('\n').find((l) => l.includes('<td>msm-1of4-s0</td>'))!;
    expect(row).not.toContain('s3://');
    const details = table.split('\n').find((l) => l.includes('where msm-1of4-s0 came from'))!;
    expect(details).toContain(`<dt>model</dt><dd><span class="uri">${long}</span></dd>`);
    expect(details).toContain('<dt>samples</dt><dd><a class="uri" href="file:///evals/msm-0.25/samples.jsonl">');
  });
});
