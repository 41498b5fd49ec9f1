import type { Rng } from '../util/mulberry32';

export { mulberry32, type Rng } from '../util/mulberry32';

/** A uniform integer in [0, n). */
export function randomIndex(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/**
 * A Binomial(n, p) draw, exact, by inverting the CDF. The bootstrap needs one per condition per
 * replicate; drawing n indices would cost n uniforms, this costs one per chunk of mean ≤ 16
 * (chunks keep (1 − p)^m far from underflow and the search short; a sum of binomials is binomial).
 */
export function binomial(n: number, p: number, rng: Rng): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(n, 1 - p, rng);
  const chunk = Math.max(1, Math.floor(16 / p));
  let total = 0;
  for (let left = n; left > 0; left -= chunk) total += binomialByInversion(Math.min(chunk, left), p, rng);
  return total;
}

function binomialByInversion(m: number, p: number, rng: Rng): number {
  const ratio = p / (1 - p);
  let pmf = (1 - p) ** m;
  let cdf = pmf;
  const u = rng();
  let x = 0;
  // pmf(x + 1) = pmf(x) · (m − x)/(x + 1) · p/(1 − p)
  while (u >= cdf && x < m) {
    pmf *= (ratio * (m - x)) / (x + 1);
    x++;
    cdf += pmf;
  }
  return x;
}
