import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/report/html';
import { buildResults, type ReportInput } from '../../src/report/results';
import { renderSvgPlot } from '../../src/report/svg-plot';
import { calibrationResult } from '../helpers/calibration';
import { renderReportInBrowser } from '../helpers/report-in-browser';

/** A study of two arms over four fractions, the shape of a real sweep. */
function study(): ReportInput {
  const fractions = [1, 1 / 4, 1 / 10, 1 / 40];
  const rates = { baseline: [0.2, 0.35, 0.5, 0.6], msm: [0.05, 0.1, 0.2, 0.3] };
  const cells = (['baseline', 'msm'] as const).flatMap((arm) =>
    fractions.map((fraction, i) => ({
      arm,
      fraction,
      seed: 0,
      trainFinalLoss: 1.2,
      // URIs as long as a real S3 store's: they must not widen the page.
      modelUri: `s3://msm-artifacts-bucket/experiments/self-preservation-sweep-2026-11-23/runs/aft-${arm}-${i}-s0-0123456789abcdef/final`,
      eval: {
        k: Math.round(rates[arm][i] * 80),
        n: 80,
        samplesUri: `s3://msm-artifacts-bucket/experiments/self-preservation-sweep-2026-11-23/evals/eval-${arm}-${i}-s0/samples-0123456789abcdef.jsonl`,
        judgeModel: 'openai:a-long-judge-model-name-2026-11-01',
        judgmentsUri: `s3://msm-artifacts-bucket/experiments/self-preservation-sweep-2026-11-23/evals/eval-${arm}-${i}-s0/judgments-0123456789abcdef`,
      },
    })),
  );
  return {
    experiment: {
      name: 'browser-check',
      workflowId: 'wf-browser',
      specTitle: 'Self-preservation spec',
      specHash: 'a'.repeat(64),
      specVariant: 'full',
      baseModel: 'tiny',
      corpus: {
        documents: 120,
        tokens: 90_000,
        hash: 'b'.repeat(64),
        truncated: 0,
        truncatedDropped: 3,
        duplicatesRemoved: 2,
        documentCostUsd: 12.5,
      },
      midtrain: { finalLoss: 2.1, steps: 40, checkpoint: 'file:///runs/midtrain/final' },
      evalSet: { sha256: 'c'.repeat(64), prompts: 8 },
    },
    cells,
    generatedAt: '2026-11-23T00:00:00.000Z',
    calibration: calibrationResult(['leaking', 'coercion', 'exfiltration']),
  } as ReportInput;
}

describe('the report in a real headless browser', () => {
  it('opens without errors and draws the fraction plot', async () => {
    const results = buildResults(study());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-report-browser-'));
    const file = path.join(dir, 'report.html');
    writeFileSync(file, renderHtml(results, renderSvgPlot(results)));

    const r = await renderReportInBrowser(file);
    expect(r.errors).toEqual([]);
    expect(r.plotBox!.width).toBeGreaterThan(300);
    expect(r.plotBox!.height).toBeGreaterThan(150);
    expect(r.strokeColours.length).toBeGreaterThanOrEqual(2); // one colour per arm
    expect(r.inkShare).toBeGreaterThan(0.01); // lines, whiskers and labels are really drawn
    expect(r.inkShare).toBeLessThan(0.5); // and the plot is not a solid block
    for (const s of ['1/40', 'baseline', 'msm', results.dataEfficiency.summary]) expect(r.text).toContain(s);
    // A laptop-width window (1100 px here) shows the whole page: nothing, the cells table included, scrolls sideways.
    expect(r.overflowX).toBeLessThanOrEqual(0);
    console.log(`report screenshot: ${r.screenshot}`);
  }, 60_000);
});
