import type { Results } from './results';

const W = 640;
const H = 400;
const M = { left: 64, right: 130, top: 36, bottom: 56 };
const COLORS: Record<string, string> = { baseline: '#c2410c', msm: '#1d4ed8' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Misalignment rate vs AFT fraction (log x axis), one line per arm with Wilson 95% error bars. */
export function renderSvgPlot(results: Results): string {
  const fractions = [...new Set(results.curves.flatMap((c) => c.points.map((p) => p.fraction)))].sort((a, b) => a - b);
  const lo = Math.log10(Math.min(...fractions));
  const hi = Math.log10(Math.max(...fractions));
  const span = hi - lo || 1;
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  // A single fraction sits in the middle of the axis.
  const x = (f: number) => M.left + (hi === lo ? plotW / 2 : ((Math.log10(f) - lo) / span) * plotW);
  const y = (r: number) => M.top + (1 - r) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${M.left}" y="20" font-size="14" font-weight="bold">Misalignment rate vs AFT data fraction</text>`);
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${M.left - 8}" y="${y(t) + 4}" text-anchor="end">${t.toFixed(2)}</text>`);
  }
  for (const p of fractions) {
    const label = results.curves.flatMap((c) => c.points).find((q) => q.fraction === p)!.fractionLabel;
    out.push(`<line x1="${x(p)}" x2="${x(p)}" y1="${M.top + plotH}" y2="${M.top + plotH + 5}" stroke="#374151"/>`);
    out.push(`<text x="${x(p)}" y="${M.top + plotH + 18}" text-anchor="middle">${esc(label)}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#374151"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + plotH}" stroke="#374151"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 12}" text-anchor="middle">AFT data fraction (log scale)</text>`);
  out.push(`<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">misalignment rate (95% CI)</text>`);
  results.curves.forEach((curve, i) => {
    const color = COLORS[curve.arm] ?? '#4b5563';
    const pts = [...curve.points].sort((a, b) => a.fraction - b.fraction);
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${x(p.fraction).toFixed(1)},${y(p.misalignment.rate).toFixed(1)}`).join(' ');
    out.push(`<path class="arm-line" data-arm="${esc(curve.arm)}" d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of pts) {
      const cx = x(p.fraction);
      out.push(`<line x1="${cx}" x2="${cx}" y1="${y(p.misalignment.lo)}" y2="${y(p.misalignment.hi)}" stroke="${color}" stroke-width="1.5"/>`);
      out.push(`<circle class="point" data-arm="${esc(curve.arm)}" cx="${cx}" cy="${y(p.misalignment.rate)}" r="4" fill="${color}"><title>${esc(`${curve.arm} ${p.fractionLabel}: ${p.misalignment.k}/${p.misalignment.n}`)}</title></circle>`);
    }
    const ly = M.top + 16 + i * 20;
    out.push(`<line x1="${W - M.right + 16}" x2="${W - M.right + 40}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${W - M.right + 46}" y="${ly + 4}">${esc(curve.arm)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
