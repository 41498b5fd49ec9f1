/// <reference lib="dom" />
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { launchChromium } from './chromium';

export interface RenderedReport {
  /** Page errors, console errors and failed requests while loading. */
  errors: string[];
  plotBox: { width: number; height: number } | null;
  /** Distinct stroke colours of the plot's paths (one per arm). */
  strokeColours: string[];
  /** Share of the rasterised plot that is ink (not white). */
  inkShare: number;
  text: string;
  screenshot: string;
  /** Page width beyond the viewport (px): above 0, the page scrolls sideways. */
  overflowX: number;
}

/**
 * Open a report.html in headless Chromium as a person would, rasterise the plot the browser laid out,
 * and save a full-page screenshot beside the report.
 */
export async function renderReportInBrowser(htmlPath: string): Promise<RenderedReport> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });
    const box = await page.locator('svg').first().boundingBox();
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
      let dark = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] < 600) dark++;
      const colours = Array.from(svg.querySelectorAll('path'))
        .map((p) => getComputedStyle(p).stroke)
        .filter((c) => c !== 'none');
      return { share: dark / (px.length / 4), colours: [...new Set(colours)] };
    });
    const overflowX = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const screenshot = path.join(path.dirname(htmlPath), 'report-screenshot.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    return {
      errors,
      plotBox: box && { width: box.width, height: box.height },
      strokeColours: ink.colours,
      inkShare: ink.share,
      text: await page.locator('body').innerText(),
      screenshot,
      overflowX,
    };
  } finally {
    await browser.close();
  }
}
