/** AFT data fractions may be written as numbers (0.025) or as "1/40"; both normalise to a number in (0, 1]. */
export function parseFraction(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  if (!m) return Number(value);
  return Number(m[1]) / Number(m[2]);
}

/** "1/40"-style label for plots, ids and logs (exact for reciprocals, else a short decimal). */
export function fractionLabel(f: number): string {
  const inv = 1 / f;
  if (Math.abs(inv - Math.round(inv)) < 1e-9) return `1/${Math.round(inv)}`;
  return String(Number(f.toFixed(4)));
}

/** Workflow-id-safe form of a fraction: 1/40 -> "1of40". */
export function fractionSlug(f: number): string {
  return fractionLabel(f).replace('/', 'of');
}
