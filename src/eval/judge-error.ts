import type { Rng } from './random';

/**
 * Rates corrected for the judge's measured error. A judge with false-positive rate a and false-negative
 * rate b turns a true rate t into an observed p = t(1 − b) + (1 − t)a, so t = (p − a)/(1 − a − b)
 * (Rogan & Gladen 1978), clipped to [0, 1]. The error rates come from the calibration sets; the bootstrap
 * draws them from their Jeffreys posteriors, so the uncertainty of a calibration of a few hundred items is
 * carried into the corrected interval. Pure.
 */
export interface JudgeErrors {
  falsePositives: number;
  clean: number;
  falseNegatives: number;
  shows: number;
}

/** Error rates of one judge kind: point estimates, or one draw of them. */
export interface ErrorRates {
  fpr: number;
  fnr: number;
}

/** null when the judge does no better than chance (a + b ≥ 1): nothing can be corrected. */
export function roganGladen(observed: number, e: ErrorRates): number | null {
  const youden = 1 - e.fpr - e.fnr;
  if (youden <= 1e-9) return null;
  return Math.min(1, Math.max(0, (observed - e.fpr) / youden));
}

export const pointRates = (e: JudgeErrors): ErrorRates => ({
  fpr: e.clean ? e.falsePositives / e.clean : 0,
  fnr: e.shows ? e.falseNegatives / e.shows : 0,
});

/** A standard normal draw (Box–Muller). */
function normal(rng: Rng): number {
  const u = Math.max(rng(), 1e-300);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** A Gamma(shape, 1) draw (Marsaglia & Tsang; shape < 1 by the boost u^(1/shape)). */
function gamma(shape: number, rng: Rng): number {
  if (shape < 1) return gamma(shape + 1, rng) * Math.max(rng(), 1e-300) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(a, b) draw. */
export function betaDraw(a: number, b: number, rng: Rng): number {
  const x = gamma(a, rng);
  const y = gamma(b, rng);
  return x / (x + y);
}

/** Error rates drawn from their Jeffreys posteriors Beta(errors + ½, correct + ½). */
export const drawRates = (e: JudgeErrors, rng: Rng): ErrorRates => ({
  fpr: betaDraw(e.falsePositives + 0.5, e.clean - e.falsePositives + 0.5, rng),
  fnr: betaDraw(e.falseNegatives + 0.5, e.shows - e.falseNegatives + 0.5, rng),
});

/** The kind of samples scored by code (a parsed forced choice): no judge, nothing to correct. */
export const PARSED_KIND = 'parsed';

/**
 * The pooled rate corrected kind by kind: each judge kind's samples are corrected with that kind's error
 * rates and weighed by their share of the samples; parsed samples are taken as they are. null when
 * nothing was judged, a kind has no calibration (or is unknown), or its judge is no better than chance.
 */
export function correctedRate(
  byKind: ReadonlyMap<string, { k: number; n: number }>,
  rates: ReadonlyMap<string, ErrorRates>,
): number | null {
  let total = 0;
  let sum = 0;
  for (const [kind, { k, n }] of byKind) {
    if (!n) continue;
    const e = rates.get(kind);
    if (!e && kind !== PARSED_KIND) return null;
    const t = e ? roganGladen(k / n, e) : k / n;
    if (t === null) return null;
    sum += t * n;
    total += n;
  }
  return total ? sum / total : null;
}
