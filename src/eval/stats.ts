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

/** log P(X ≤ k) for X ~ Binomial(n, p), summed in log space so no term underflows. */
function logBinomialCdf(k: number, n: number, p: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return k >= n ? 0 : -Infinity;
  const ratio = Math.log(p) - Math.log1p(-p);
  let term = n * Math.log1p(-p); // log P(X = 0)
  let acc = term;
  for (let i = 0; i < k; i++) {
    term += Math.log((n - i) / (i + 1)) + ratio;
    const hi = Math.max(acc, term);
    acc = hi + Math.log(Math.exp(acc - hi) + Math.exp(term - hi));
  }
  return acc;
}

/**
 * Exact (Clopper–Pearson) one-sided upper confidence bound of a proportion: the p at which seeing k or
 * fewer of n has probability 1 − level. With 0 of 100 it is 3.0% at level 0.95 (the "rule of three").
 */
export function clopperPearsonUpper(k: number, n: number, level = 0.95): number {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n)
    throw new Error(`clopperPearsonUpper: need integers 0 <= k <= n, got k=${k}, n=${n}`);
  if (n === 0 || k === n) return 1;
  const target = Math.log(1 - level);
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (logBinomialCdf(k, n, mid) > target) lo = mid;
    else hi = mid;
  }
  return hi;
}
