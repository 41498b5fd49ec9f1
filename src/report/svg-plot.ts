import type { Results } from './results';

const W = 720;
const H = 420;
const M = { left: 64, right: 200, top: 40, bottom: 58 };
const COLORS: Record<string, string> = {
  baseline: '#c2410c',
  msm: '#1d4ed8',
  deliberative: '#047857',
  'spec-in-context': '#7c3aed',
};
/** Arms without a color of their own, and the controls' reference lines, take these in turn. */
export const PALETTE = ['#b45309', '#0e7490', '#be185d', '#4d7c0f', '#6d28d9'];
const CONTROL_COLORS: Record<string, string> = { base: '#111827', 'msm-only': '#2563eb' };
const CONTROL_DASH = ['2 3', '8 3 2 3', '1 2', '10 4'];
const REFERENCE_COLOR = '#6b7280';
export const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const num = (v: number) => Number(v.toFixed(2));

/** Where fractions and rates land on the canvas: log-scaled x, linear y from 0 to a rounded-up top. */
export function plotScales(results: Results) {
  const fractions = [...new Set(results.curves.flatMap((c) => c.points.map((p) => p.fraction)))].sort((a, b) => a - b);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const lo = fractions.length ? Math.log10(fractions[0]) : 0;
  const hi = fractions.length ? Math.log10(fractions[fractions.length - 1]) : 0;
  // Pad half a tick-width of log space on each side so end points and their whiskers are not on the frame.
  const pad = hi > lo ? (hi - lo) * 0.06 : 0;
  const x = (f: number) =>
    hi === lo ? M.left + plotW / 2 : M.left + ((Math.log10(f) - lo + pad) / (hi - lo + 2 * pad)) * plotW;
  // Small rates stay readable: the y axis ends just above the highest interval bound, on a round step.
  const top = Math.max(
    0.01,
    ...results.curves.flatMap((c) => c.points.filter((p) => p.misalignment.n > 0).map((p) => p.misalignment.hi)),
    ...(results.controls ?? []).filter((c) => c.misalignment.n > 0).map((c) => c.misalignment.hi),
  );
  const yStep = [0.01, 0.02, 0.05, 0.1, 0.2].find((s) => Math.ceil(top / s - 1e-9) <= 8)!;
  const yTicks = Math.ceil(top / yStep - 1e-9);
  const yMax = yTicks * yStep;
  const y = (r: number) => M.top + (1 - r / yMax) * plotH;
  return { fractions, x, y, yStep, yTicks, plotW, plotH };
}

type Scales = ReturnType<typeof plotScales>;

/** Legend rows on the right of the plot, one per line drawn. */
class Legend {
  private readonly parts: string[] = [];
  private readonly x = W - M.right + 14;

  row(i: number, color: string, text: string, style = 'stroke-width="2"'): void {
    const y = M.top + 10 + i * 20;
    this.parts.push(`<line x1="${this.x}" x2="${this.x + 24}" y1="${y}" y2="${y}" stroke="${color}" ${style}/>`);
    this.parts.push(`<text x="${this.x + 30}" y="${y + 4}">${esc(text)}</text>`);
  }

  svg(): string {
    return `<g class="legend">${this.parts.join('')}</g>`;
  }
}

/**
 * Misalignment rate vs AFT fraction (log x axis): one line per AFT arm, cluster-bootstrap 95% whiskers, baseline full-data
 * reference, and each control (no AFT) as a horizontal line at its rate.
 */
export function renderSvgPlot(results: Results): string {
  const scales = plotScales(results);
  const { y, plotW } = scales;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="22" font-size="14" font-weight="bold">Misalignment rate vs AFT data fraction</text>`,
    ...axes(results, scales),
  ];
  const legend = new Legend();
  const reference = baselineReference(results);
  if (reference) {
    out.push(
      `<line class="reference" x1="${M.left}" x2="${M.left + plotW}" y1="${num(y(reference.rate))}" y2="${num(y(reference.rate))}" stroke="${REFERENCE_COLOR}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
  }
  // Arms and controls without a color of their own take the palette's colors in turn.
  let spare = 0;
  const colorOf = (arm: string, own: Record<string, string>) => own[arm] ?? PALETTE[spare++ % PALETTE.length];
  results.curves.forEach((curve, i) => {
    const color = colorOf(curve.arm, COLORS);
    // Arms at the same fraction are nudged apart a few pixels so their whiskers do not hide each other.
    out.push(...armCurve(curve, (i - (results.curves.length - 1) / 2) * 5, color, scales));
    legend.row(i, color, curve.arm);
  });
  if (reference) legend.row(results.curves.length, REFERENCE_COLOR, reference.label, REFERENCE_STYLE);
  // Controls (no AFT, evaluated once) have no fraction: a horizontal line across the plot at their rate.
  (results.controls ?? [])
    .filter((c) => c.misalignment.n > 0)
    .forEach((c, i) => {
      const color = colorOf(c.arm, CONTROL_COLORS);
      const dash = CONTROL_DASH[i % CONTROL_DASH.length];
      const m = c.misalignment;
      const tip = `${c.arm} (control, no AFT): ${m.k}/${m.n}, 95% CI ${(100 * m.lo).toFixed(1)}–${(100 * m.hi).toFixed(1)}%`;
      out.push(
        `<line class="control" data-arm="${esc(c.arm)}" x1="${M.left}" x2="${M.left + plotW}" y1="${num(y(m.rate))}" y2="${num(y(m.rate))}" stroke="${color}" stroke-width="1.5" stroke-dasharray="${dash}"><title>${esc(tip)}</title></line>`,
      );
      const row = results.curves.length + (reference ? 1 : 0) + i;
      legend.row(
        row,
        color,
        `${c.arm}, no AFT (${(100 * m.rate).toFixed(1)}%)`,
        `stroke-width="1.5" stroke-dasharray="${dash}"`,
      );
    });
  out.push(legend.svg());
  out.push('</svg>');
  return out.join('\n');
}

const REFERENCE_STYLE = 'stroke-width="1.5" stroke-dasharray="6 4"';

/** Grid lines and rate ticks, fraction ticks with their labels, the axes and their titles. */
function axes(results: Results, { fractions, x, y, yStep, yTicks, plotW, plotH }: Scales): string[] {
  const bottom = M.top + plotH;
  const out: string[] = [];
  for (let i = 0; i <= yTicks; i++) {
    const r = yStep * i;
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${num(y(r))}" y2="${num(y(r))}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${M.left - 8}" y="${num(y(r) + 4)}" text-anchor="end">${(100 * r).toFixed(0)}%</text>`);
  }
  const labels = new Map(results.curves.flatMap((c) => c.points.map((p) => [p.fraction, p.fractionLabel] as const)));
  for (const f of fractions) {
    out.push(
      `<line class="x-tick" data-fraction="${f}" x1="${num(x(f))}" x2="${num(x(f))}" y1="${bottom}" y2="${bottom + 5}" stroke="#374151"/>`,
    );
    out.push(`<text x="${num(x(f))}" y="${bottom + 19}" text-anchor="middle">${esc(labels.get(f)!)}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${bottom}" y2="${bottom}" stroke="#374151"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${bottom}" stroke="#374151"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 14}" text-anchor="middle">AFT data fraction (log scale)</text>`);
  out.push(
    `<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">misalignment rate (95% cluster-bootstrap CI)</text>`,
  );
  if (!fractions.length)
    out.push(`<text x="${M.left + plotW / 2}" y="${M.top + plotH / 2}" text-anchor="middle">no evaluated cells</text>`);
  return out;
}

/** The safety level the study asks about: the baseline with all of its AFT data. */
function baselineReference(results: Results): { rate: number; label: string } | null {
  const base = results.curves
    .find((c) => c.arm === 'baseline')
    ?.points.reduce((a, b) => (b.fraction > a.fraction ? b : a));
  if (!base || base.misalignment.n === 0) return null;
  const rate = base.misalignment.rate;
  return { rate, label: `baseline at ${base.fractionLabel} (${(100 * rate).toFixed(1)}%)` };
}

/** One arm's line, whiskers and points; a cell with nothing judged has no rate and is left off. */
function armCurve(curve: Results['curves'][number], nudge: number, color: string, { x, y }: Scales): string[] {
  const out: string[] = [];
  const pts = curve.points.filter((p) => p.misalignment.n > 0).sort((a, b) => a.fraction - b.fraction);
  const d = pts.map((p, j) => `${j ? 'L' : 'M'}${num(x(p.fraction) + nudge)},${num(y(p.misalignment.rate))}`).join(' ');
  if (pts.length)
    out.push(
      `<path class="arm-line" data-arm="${esc(curve.arm)}" d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
  for (const p of pts) {
    const cx = num(x(p.fraction) + nudge);
    const [top, low] = [num(y(p.misalignment.hi)), num(y(p.misalignment.lo))];
    const [l, r] = [num(cx - 4), num(cx + 4)];
    out.push(
      `<path class="whisker" d="M${cx},${low} L${cx},${top} M${l},${low} L${r},${low} M${l},${top} L${r},${top}" stroke="${color}" stroke-width="1.5"/>`,
    );
    const tip = `${curve.arm} ${p.fractionLabel}: ${p.misalignment.k}/${p.misalignment.n}, 95% CI ${(100 * p.misalignment.lo).toFixed(1)}–${(100 * p.misalignment.hi).toFixed(1)}%`;
    out.push(
      `<circle class="point" data-arm="${esc(curve.arm)}" cx="${cx}" cy="${num(y(p.misalignment.rate))}" r="4" fill="${color}"><title>${esc(tip)}</title></circle>`,
    );
  }
  return out;
}
