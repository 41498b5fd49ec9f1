import type { TokenSummary } from './packed-format';

/** Nearest-rank percentile of sorted values (p in (0, 1]): the smallest value with at least p of them at or below. */
function percentile(sorted: Int32Array, p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

export function summarizeTokenCounts(counts: ArrayLike<number>): TokenSummary {
  const sorted = Int32Array.from(counts).sort();
  let total = 0;
  for (const c of sorted) total += c;
  const n = sorted.length;
  return {
    documents: n,
    totalTokens: total,
    min: n ? sorted[0] : 0,
    median: n ? percentile(sorted, 0.5) : 0,
    p95: n ? percentile(sorted, 0.95) : 0,
    max: n ? sorted[n - 1] : 0,
    mean: n ? Math.round((total / n) * 10) / 10 : 0,
  };
}

export interface Bin {
  /** [lo, hi) in tokens. */
  lo: number;
  hi: number;
  count: number;
}

/**
 * Log-spaced bins, four per power of two from the shortest document to the longest: document lengths
 * span orders of magnitude (a 3-line memo beside a 5k-token report), so equal-width bins would hide
 * the short ones in one bar.
 */
export function logBins(counts: ArrayLike<number>, perOctave = 4): Bin[] {
  if (counts.length === 0) return [];
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < counts.length; i++) {
    min = Math.min(min, counts[i]);
    max = Math.max(max, counts[i]);
  }
  const edges: number[] = [Math.max(0, min)];
  for (let e = Math.max(1, min); edges[edges.length - 1] <= max;) {
    e = Math.max(edges[edges.length - 1] + 1, Math.ceil(e * 2 ** (1 / perOctave)));
    edges.push(e);
  }
  const bins: Bin[] = edges.slice(0, -1).map((lo, i) => ({ lo, hi: edges[i + 1], count: 0 }));
  for (let i = 0; i < counts.length; i++) {
    // Binary search for the bin holding counts[i].
    let a = 0;
    let b = bins.length - 1;
    while (a < b) {
      const m = (a + b + 1) >> 1;
      if (bins[m].lo <= counts[i]) a = m;
      else b = m - 1;
    }
    bins[a].count++;
  }
  return bins;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const r1 = (v: number) => Number(v.toFixed(1));

/** Histogram of document lengths in tokens (log-spaced bins on a log x axis) as a standalone SVG. */
export function tokenHistogramSvg(counts: ArrayLike<number>, title: string): string {
  const W = 720;
  const H = 380;
  const M = { left: 64, right: 24, top: 56, bottom: 56 };
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const s = summarizeTokenCounts(counts);
  const bins = logBins(counts);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.left}" y="40" fill="#374151">${s.documents} documents, ${s.totalTokens} tokens; min ${s.min}, median ${s.median}, p95 ${s.p95}, max ${s.max}</text>`,
  ];
  const bottom = M.top + ph;
  if (bins.length) {
    const lo = Math.log2(Math.max(1, bins[0].lo));
    const hi = Math.log2(bins[bins.length - 1].hi);
    const x = (v: number) => M.left + ((Math.log2(Math.max(1, v)) - lo) / Math.max(hi - lo, 1e-9)) * pw;
    const top = Math.max(...bins.map((b) => b.count));
    const yStep = Math.max(1, 10 ** Math.floor(Math.log10(top / 2 || 1)));
    const yMax = Math.ceil(top / yStep) * yStep;
    const y = (c: number) => bottom - (c / yMax) * ph;
    for (let t = 0; t <= yMax; t += yStep) {
      out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${r1(y(t))}" y2="${r1(y(t))}" stroke="#e5e7eb"/>`);
      out.push(`<text x="${M.left - 6}" y="${r1(y(t) + 4)}" text-anchor="end">${t}</text>`);
    }
    for (const b of bins) {
      const x0 = x(b.lo);
      const x1 = x(b.hi);
      out.push(
        `<rect class="bin" data-lo="${b.lo}" data-hi="${b.hi}" data-count="${b.count}" x="${r1(x0)}" y="${r1(y(b.count))}" ` +
          `width="${r1(Math.max(0.5, x1 - x0 - 1))}" height="${r1(bottom - y(b.count))}" fill="#1d4ed8"><title>${b.lo}–${b.hi - 1} tokens: ${b.count}</title></rect>`,
      );
    }
    // Ticks at powers of two inside the range, and the range's ends.
    const ticks = new Set<number>([bins[0].lo, bins[bins.length - 1].hi]);
    for (let p = 2 ** Math.ceil(lo); p < bins[bins.length - 1].hi; p *= 2) ticks.add(p);
    let lastX = -Infinity;
    for (const t of [...ticks].sort((a, b) => a - b)) {
      if (x(t) - lastX < 28) continue;
      lastX = x(t);
      out.push(`<line x1="${r1(x(t))}" x2="${r1(x(t))}" y1="${bottom}" y2="${bottom + 5}" stroke="#374151"/>`);
      out.push(`<text x="${r1(x(t))}" y="${bottom + 18}" text-anchor="middle">${t}</text>`);
    }
  } else {
    out.push(`<text x="${M.left + pw / 2}" y="${M.top + ph / 2}" text-anchor="middle">no documents</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${bottom}" y2="${bottom}" stroke="#374151"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${bottom}" stroke="#374151"/>`);
  out.push(
    `<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">document length in tokens (log scale)</text>`,
  );
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">documents</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
