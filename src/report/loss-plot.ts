import { fractionLabel } from '../config/fractions';
import { downsample, lossPanels, type LossCurve } from './loss-curves';
import { PALETTE, esc, num } from './svg-plot';

const PANEL_W = 480;
const PANEL_H = 290;
const COLS = 2;
const M = { left: 56, right: 120, top: 30, bottom: 40 };
const SEED_DASH = ['', '6 3', '2 3', '8 3 2 3'];
const TITLE_H = 34;

/** A round step putting about `n` ticks over [lo, hi]. */
function tickStep(lo: number, hi: number, n: number): number {
  const raw = Math.max((hi - lo) / n, 1e-9);
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
}

const tickLabel = (v: number, step: number) =>
  step >= 1 ? String(Math.round(v)) : v.toFixed(Math.min(4, Math.ceil(-Math.log10(step))));

const lineLabel = (c: LossCurve) => (c.cell ? `${fractionLabel(c.cell.fraction)} s${c.cell.seed}` : c.label);

/** One panel at (ox, oy): per-step loss vs step, one line per run; runs without a curve are named below. */
function panel(title: string, curves: LossCurve[], ox: number, oy: number): string[] {
  const plotW = PANEL_W - M.left - M.right;
  const plotH = PANEL_H - M.top - M.bottom;
  const drawn = curves.filter((c) => c.losses?.some((v) => Number.isFinite(v)));
  const lines = drawn.map((c) => ({ c, pts: downsample(c.losses!) }));
  const all = lines.flatMap((l) => l.pts);
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  const lo = all.length ? Math.min(...all.map((p) => p.loss)) : 0;
  const hi = all.length ? Math.max(...all.map((p) => p.loss)) : 1;
  const yStep = tickStep(lo, hi, 5);
  const [y0, y1] = [
    Math.floor(lo / yStep) * yStep,
    Math.max(Math.ceil(hi / yStep) * yStep, Math.floor(lo / yStep) * yStep + yStep),
  ];
  const xStep = tickStep(0, maxStep, 5);
  const x = (s: number) => ox + M.left + (s / maxStep) * plotW;
  const y = (v: number) => oy + M.top + (1 - (v - y0) / (y1 - y0)) * plotH;
  const bottom = oy + M.top + plotH;
  const out = [
    `<g class="loss-panel" data-title="${esc(title)}">`,
    `<text x="${ox + M.left}" y="${oy + 18}" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let v = y0; v <= y1 + yStep / 2; v += yStep) {
    out.push(
      `<line x1="${ox + M.left}" x2="${ox + M.left + plotW}" y1="${num(y(v))}" y2="${num(y(v))}" stroke="#e5e7eb"/>`,
    );
    out.push(`<text x="${ox + M.left - 6}" y="${num(y(v) + 4)}" text-anchor="end">${tickLabel(v, yStep)}</text>`);
  }
  for (let s = 0; s <= maxStep; s += xStep)
    out.push(`<text x="${num(x(s))}" y="${bottom + 16}" text-anchor="middle">${s}</text>`);
  out.push(
    `<path d="M${ox + M.left},${oy + M.top} L${ox + M.left},${bottom} L${ox + M.left + plotW},${bottom}" fill="none" stroke="#374151"/>`,
  );
  out.push(`<text x="${ox + M.left + plotW / 2}" y="${bottom + 32}" text-anchor="middle">step</text>`);
  out.push(
    `<text transform="translate(${ox + 14} ${oy + M.top + plotH / 2}) rotate(-90)" text-anchor="middle">loss</text>`,
  );
  const fractions = [...new Set(curves.map((c) => c.cell?.fraction ?? 1))].sort((a, b) => a - b);
  const seeds = [...new Set(curves.map((c) => c.cell?.seed ?? 0))].sort((a, b) => a - b);
  lines.forEach(({ c, pts }, i) => {
    const color = PALETTE[fractions.indexOf(c.cell?.fraction ?? 1) % PALETTE.length];
    const dash = SEED_DASH[seeds.indexOf(c.cell?.seed ?? 0) % SEED_DASH.length];
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${num(x(p.step))},${num(y(p.loss))}`).join(' ');
    out.push(
      `<path class="loss-line" data-run="${esc(c.label)}" d="${d}" fill="none" stroke="${color}" stroke-width="1.5"${dash ? ` stroke-dasharray="${dash}"` : ''}><title>${esc(c.label)}</title></path>`,
    );
    const ly = oy + M.top + 8 + i * 16;
    out.push(
      `<line x1="${ox + PANEL_W - M.right + 8}" x2="${ox + PANEL_W - M.right + 28}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="1.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    );
    out.push(`<text x="${ox + PANEL_W - M.right + 32}" y="${ly + 4}">${esc(lineLabel(c))}</text>`);
  });
  const missing = curves.filter((c) => !drawn.includes(c));
  if (missing.length) {
    // Listed under the legend (the full sentence as a tooltip); a panel with no curve at all says it in its middle.
    const why = `no loss curve recorded for ${missing.map(lineLabel).join(', ')} (trained before outputs kept loss_curve.json)`;
    const lx = ox + PANEL_W - M.right + 8;
    const rows = ['no curve:', ...missing.map(lineLabel)].map(
      (t, i) => `<tspan x="${lx}" dy="${i ? 14 : 0}">${esc(t)}</tspan>`,
    );
    out.push(
      `<text class="loss-missing" x="${lx}" y="${oy + M.top + 12 + lines.length * 16}" fill="#6b7280"><title>${esc(why)}</title>${rows.join('')}</text>`,
    );
    if (!drawn.length)
      out.push(
        `<text x="${ox + M.left + plotW / 2}" y="${oy + M.top + plotH / 2}" text-anchor="middle" fill="#6b7280">no loss curve recorded</text>`,
      );
  }
  out.push('</g>');
  return out;
}

/** Training loss per step: a panel for midtraining and one per AFT arm (fractions by color, seeds by dash). */
export function renderLossCurvesSvg(curves: LossCurve[]): string {
  const panels = lossPanels(curves);
  const cols = Math.min(COLS, Math.max(1, panels.length));
  const rows = Math.max(1, Math.ceil(panels.length / COLS));
  const [w, h] = [cols * PANEL_W, TITLE_H + rows * PANEL_H];
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="11">`,
  ];
  out.push(
    `<rect width="${w}" height="${h}" fill="#fff"/>`,
    `<text x="12" y="22" font-size="14" font-weight="bold">Training loss per step</text>`,
  );
  if (!panels.length)
    out.push(
      `<text class="loss-missing" x="${w / 2}" y="${h / 2}" text-anchor="middle">no training runs in this report</text>`,
    );
  panels.forEach((p, i) =>
    out.push(...panel(p.title, p.curves, (i % COLS) * PANEL_W, TITLE_H + Math.floor(i / COLS) * PANEL_H)),
  );
  out.push('</svg>');
  return out.join('\n');
}

/** One line per run for report.md: steps, first and last loss, or why there is no curve. */
export function lossCurveSummary(curves: LossCurve[]): string[] {
  return curves.map((c) => {
    const finite = (c.losses ?? []).filter((v) => Number.isFinite(v));
    if (!finite.length) return `- ${c.label}: no loss curve recorded (trained before outputs kept loss_curve.json)`;
    return `- ${c.label}: ${c.losses!.length} steps, loss ${finite[0].toFixed(4)} → ${finite[finite.length - 1].toFixed(4)}`;
  });
}
