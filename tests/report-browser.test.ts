/// <reference lib="dom" />
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../src/report/html';
import { buildResults, type ReportInput } from '../src/report/results';
import { renderSvgPlot } from '../src/report/svg-plot';
import { launchChromium } from './helpers/chromium';

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
      modelUri: `file:///runs/${arm}-${i}/final`,
      eval: { k: Math.round(rates[arm][i] * 80), n: 80, unjudged: 0, samplesUri: `file:///evals/${arm}-${i}/samples.jsonl`, judgeModel: 'judge' },
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
      corpus: { documents: 120, tokens: 90_000, hash: 'b'.repeat(64), truncated: 0, truncatedDropped: 3, duplicatesRemoved: 2, documentCostUsd: 12.5 },
      midtrain: { finalLoss: 2.1, steps: 40, checkpoint: 'file:///runs/midtrain/final' },
      evalSet: { sha256: 'c'.repeat(64), prompts: 8 },
    },
    cells,
    generatedAt: '2026-11-23T00:00:00.000Z',
  } as ReportInput;
}

describe('the report in a real headless browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('opens without errors and draws the fraction plot', async () => {
    const results = buildResults(study());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-report-browser-'));
    const file = path.join(dir, 'report.html');
    writeFileSync(file, renderHtml(results, renderSvgPlot(results)));

    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    expect(errors).toEqual([]);

    const plot = page.locator('svg').first();
    const box = await plot.boundingBox();
    expect(box!.width).toBeGreaterThan(300);
    expect(box!.height).toBeGreaterThan(150);
    // Rasterise what the browser laid out and count ink in each arm's colour: both curves are drawn.
    const ink = await page.evaluate(async () => {
      const svg = document.querySelector('svg')!;
      const { width, height } = svg.getBoundingClientRect();
      const img = new Image();
      img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = Math.ceil(width);
      canvas.height = Math.ceil(height);
      const ctx = canvas.getContext('2d')!;
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = Array.from(svg.querySelectorAll('path')).map((p) => getComputedStyle(p).stroke);
      let dark = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] < 600) dark++;
      return { dark, total: px.length / 4, colours };
    });
    expect(new Set(ink.colours.filter((c) => c !== 'none')).size).toBeGreaterThanOrEqual(2); // one colour per arm
    expect(ink.dark / ink.total).toBeGreaterThan(0.01); // lines, whiskers and labels are really drawn
    expect(ink.dark / ink.total).toBeLessThan(0.5); // and the plot is not a solid block

    const text = await page.locator('body').innerText();
    for (const s of ['1/40', 'baseline', 'msm', results.dataEfficiency.summary]) expect(text).toContain(s);
    const png = path.join(dir, 'report.png');
    await page.screenshot({ path: png, fullPage: true });
    console.log(`report screenshot: ${png}`);
    await page.close();
  }, 60_000);
});
