/**
 * The evidence behind one arm × fraction cell of the sweep, kept at the grain the bootstrap needs:
 * per training seed (the cluster), per evaluation condition (an eval prompt), k of n samples judged
 * 'violates'. Pure.
 */
export interface ConditionCount {
  condition: string;
  k: number;
  n: number;
}

export interface SeedCounts {
  seed: number;
  conditions: ConditionCount[];
}

/** One arm × fraction: every seed trained there. */
export type CellCounts = SeedCounts[];

/** The name used when only a cell's total (k, n) is known, not its split by condition. */
export const ALL_CONDITIONS = '*';

export function checkCount(k: number, n: number, what: string): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n) {
    throw new Error(`${what}: need integers 0 <= k <= n, got k=${k}, n=${n}`);
  }
}

/** (k, n) from per-sample outcomes (1/true = the judge found a violation). */
export function countOutcomes(outcomes: ReadonlyArray<number | boolean>): { k: number; n: number } {
  let k = 0;
  for (const o of outcomes) {
    if (o !== 0 && o !== 1 && o !== true && o !== false)
      throw new Error(`outcome must be 0/1 or a boolean, got ${String(o)}`);
    if (o === 1 || o === true) k++;
  }
  return { k, n: outcomes.length };
}

/** A seed known only by its total (k, n). */
export function seedTotal(seed: number, k: number, n: number): SeedCounts {
  checkCount(k, n, `seed ${seed}`);
  return { seed, conditions: [{ condition: ALL_CONDITIONS, k, n }] };
}

export function totals(cell: CellCounts): { k: number; n: number } {
  let k = 0;
  let n = 0;
  for (const s of cell)
    for (const c of s.conditions) {
      k += c.k;
      n += c.n;
    }
  return { k, n };
}

/** Pooled rate: all samples of all seeds and conditions together. null when nothing was judged. */
export function pooledRate(cell: CellCounts): number | null {
  const { k, n } = totals(cell);
  return n ? k / n : null;
}

/** Per condition, summed over seeds; conditions with no samples are left out (their rate is unknown). */
export function byCondition(cell: CellCounts): ConditionCount[] {
  const sums = new Map<string, ConditionCount>();
  for (const s of cell)
    for (const c of s.conditions) {
      const acc = sums.get(c.condition) ?? { condition: c.condition, k: 0, n: 0 };
      acc.k += c.k;
      acc.n += c.n;
      sums.set(c.condition, acc);
    }
  return [...sums.values()].filter((c) => c.n > 0).sort((a, b) => a.condition.localeCompare(b.condition));
}

/**
 * Macro-average: the mean of per-condition rates, so every condition weighs the same whatever its
 * sample count. null when no condition has samples.
 */
export function macroRate(cell: CellCounts): number | null {
  const conds = byCondition(cell);
  if (!conds.length) return null;
  return conds.reduce((s, c) => s + c.k / c.n, 0) / conds.length;
}

/** Seeds that carry information; a seed with no judged samples has no rate and cannot be resampled. */
export function informativeSeeds(cell: CellCounts): CellCounts {
  return cell.filter((s) => s.conditions.some((c) => c.n > 0));
}
