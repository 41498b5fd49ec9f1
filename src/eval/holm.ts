/**
 * Holm's step-down adjustment of a family of p-values (controls the family-wise error rate, with no
 * assumption about how the tests depend on each other). Sorted ascending, the i-th smallest (from 0) is
 * multiplied by (m − i), running maxima keep the order, and everything is capped at 1. Returns the
 * adjusted values in the input's order. Pure.
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    out[i] = running;
  });
  return out;
}
