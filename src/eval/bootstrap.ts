import { countOutcomes, informativeSeeds, pooledRate, seedTotal, type CellCounts } from './counts';
import { binomial, mulberry32, randomIndex, type Rng } from './random';

/**
 * Percentile bootstrap over the sweep's cells. Resampling follows the design: training seeds are the
 * clusters (drawn with replacement), then each drawn seed's samples are drawn again within each
 * condition (a condition's sample count is fixed by the eval set, so it stays fixed). Two-stage
 * resampling counts within-seed noise twice, which errs towards wider intervals: the honest side.
 */
export interface BootstrapSettings {
  resamples: number;
  seed: number;
  /** Coverage of the interval, e.g. 0.95. */
  level: number;
}

export const DEFAULT_BOOTSTRAP: BootstrapSettings = { resamples: 2000, seed: 20260522, level: 0.95 };

export interface Interval {
  estimate: number;
  lo: number;
  hi: number;
}

/** A statistic of one or more cells; null where it is undefined (nothing judged). */
export type CellStatistic = (cell: CellCounts) => number | null;

/**
 * Nearest-rank percentiles of values sorted ascending: the ceil(p·B)-th smallest for p = (1-level)/2
 * and 1-(1-level)/2. Ranks, not interpolation, so it also works on ordered non-numeric outcomes.
 */
export function percentileBounds<T>(sorted: readonly T[], level: number): [T, T] {
  if (!sorted.length) throw new Error('percentileBounds: no values');
  if (!(level > 0 && level < 1)) throw new Error(`percentileBounds: level must be in (0, 1), got ${level}`);
  const tail = (1 - level) / 2;
  // The epsilon keeps 2000 × 0.025 = 50.000000000000004 at rank 50.
  const rank = (p: number) => Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length - 1e-9)));
  return [sorted[rank(tail) - 1], sorted[rank(1 - tail) - 1]];
}

/**
 * k' of n drawn with replacement from n outcomes of which k are 1: each draw is a 1 with probability
 * k/n, so k' ~ Binomial(n, k/n) exactly, drawn without touching the n outcomes one by one.
 */
export function resampleCount(k: number, n: number, rng: Rng): number {
  if (k === 0 || k === n) return k;
  return binomial(n, k / n, rng);
}

/** One bootstrap replicate of a cell whose seeds all carry samples (see informativeSeeds). */
export function resampleCell(cell: CellCounts, rng: Rng): CellCounts {
  const out: CellCounts = [];
  for (let i = 0; i < cell.length; i++) {
    const drawn = cell[randomIndex(rng, cell.length)];
    out.push({
      seed: drawn.seed,
      conditions: drawn.conditions.map((c) => ({ condition: c.condition, k: resampleCount(c.k, c.n, rng), n: c.n })),
    });
  }
  return out;
}

/**
 * The generic loop: `estimate` on the data, `replicate(rng)` on one resample, percentile bounds over
 * `resamples` replicates from a fresh generator seeded with `settings.seed`. null when the estimate
 * is undefined.
 */
export function bootstrapInterval(
  estimate: number | null,
  replicate: (rng: Rng) => number | null,
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): Interval | null {
  if (estimate === null) return null;
  const rng = mulberry32(settings.seed);
  const values: number[] = [];
  for (let b = 0; b < settings.resamples; b++) {
    const v = replicate(rng);
    if (v !== null) values.push(v);
  }
  if (!values.length) return null;
  values.sort((a, b) => a - b);
  const [lo, hi] = percentileBounds(values, settings.level);
  return { estimate, lo, hi };
}

/** A statistic of one cell (pooled rate by default) with its bootstrap interval. */
export function bootstrapCell(
  cell: CellCounts,
  stat: CellStatistic = pooledRate,
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): Interval | null {
  const seeds = informativeSeeds(cell);
  if (!seeds.length) return null;
  return bootstrapInterval(stat(seeds), (rng) => stat(resampleCell(seeds, rng)), settings);
}

/**
 * stat(msm) − stat(baseline) with its interval; each arm is resampled on its own (they share no
 * trained model). null when either arm has nothing judged.
 */
export function bootstrapDifference(
  msm: CellCounts,
  baseline: CellCounts,
  stat: CellStatistic = pooledRate,
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): Interval | null {
  const a = informativeSeeds(msm);
  const b = informativeSeeds(baseline);
  if (!a.length || !b.length) return null;
  const diff = (x: CellCounts, y: CellCounts) => {
    const sx = stat(x);
    const sy = stat(y);
    return sx === null || sy === null ? null : sx - sy;
  };
  return bootstrapInterval(diff(a, b), (rng) => diff(resampleCell(a, rng), resampleCell(b, rng)), settings);
}

/** A cell from per-sample 0/1 outcomes, one array per training seed (seeds numbered 0, 1, ...). */
export function cellFromOutcomes(bySeed: ReadonlyArray<ReadonlyArray<number | boolean>>): CellCounts {
  return bySeed.map((outcomes, seed) => {
    const { k, n } = countOutcomes(outcomes);
    return seedTotal(seed, k, n);
  });
}
