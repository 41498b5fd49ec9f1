export interface RateInterval {
  k: number;
  n: number;
  rate: number;
  lo: number;
  hi: number;
}

/**
 * Wilson score interval for k successes in n trials (95% by default). Unlike the normal approximation it
 * stays inside [0, 1] and is sensible at k = 0 or k = n. n = 0 carries no information: rate 0, [0, 1].
 */
export function wilson(k: number, n: number, z = 1.959964): RateInterval {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n) {
    throw new Error(`wilson: need integers 0 <= k <= n, got k=${k}, n=${n}`);
  }
  if (n === 0) return { k, n, rate: 0, lo: 0, hi: 1 };
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { k, n, rate: p, lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}
