import type { Interval } from '../eval/bootstrap';
import type { FactorBound } from '../eval/data-efficiency';

/** Number formats shared by the HTML page and the Markdown summary. */
export const pct = (r: number) => `${(100 * r).toFixed(1)}%`;

/** Percentage points with a sign, for differences of rates. */
export const pp = (d: number) => `${d > 0 ? '+' : d < 0 ? '−' : '±'}${Math.abs(100 * d).toFixed(1)} pp`;

export const factorText = (f: number) => `${f < 10 ? f.toFixed(2) : f.toFixed(1)}×`;

export function boundText(b: FactorBound): string {
  if (b.status === 'not-reached') return 'not reached';
  return b.status === 'lower-bound' ? `≥ ${factorText(b.factor)}` : factorText(b.factor);
}

/** An interpolated fraction such as 0.063 reads better as "1/15.9". */
export const oneIn = (fraction: number) => `1/${Number((1 / fraction).toFixed(1))}`;

export const rateRange = (i: { lo: number; hi: number }) => `${pct(i.lo)} – ${pct(i.hi)}`;

export const diffRange = (i: Interval) => `${pp(i.lo)} … ${pp(i.hi)}`;
