import { pooledRate, type CellCounts } from './counts';

/** How much an arm × fraction moves between training seeds: the rate of each seed and their summary. */
export interface SeedSpread {
  /** Seeds with judged samples; the summary is over these. */
  seeds: number;
  /** Seeds that produced no judged sample (no rate, left out of the summary). */
  seedsWithoutSamples: number;
  rates: Array<{ seed: number; rate: number }>;
  mean: number;
  /** Sample standard deviation (n − 1); null with a single seed, where it is undefined. */
  sd: number | null;
  min: number;
  max: number;
}

/** null when no seed has a judged sample. */
export function seedSpread(cell: CellCounts): SeedSpread | null {
  const rates = cell.flatMap((s) => {
    const rate = pooledRate([s]);
    return rate === null ? [] : [{ seed: s.seed, rate }];
  });
  if (!rates.length) return null;
  const values = rates.map((r) => r.rate);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd =
    values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1)) : null;
  return {
    seeds: rates.length,
    seedsWithoutSamples: cell.length - rates.length,
    rates,
    mean,
    sd,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}
