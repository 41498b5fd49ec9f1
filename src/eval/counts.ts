/**
 * The evidence behind one arm × fraction cell of the sweep, kept at the grain the bootstrap needs:
 * per training seed (a cluster), per eval prompt (the other cluster), k of n samples judged 'violates'.
 * Samples of one prompt from one model are not independent draws; prompts and seeds are. Pure.
 */
export interface PromptCount {
  /** The eval line's id (the cluster); for results recorded before prompts were kept, its condition. */
  prompt: string;
  /** The line's condition key (settings pooled), or its prompt id: what the macro-average weighs equally. */
  condition: string;
  /** The calibration kind that judged it (criterion, leaking, ..., values); absent: parsed by code or unknown. */
  kind?: string;
  k: number;
  n: number;
  /** Samples of this prompt the judge left without a verdict (not in k or n); absent: none. */
  unjudged?: number;
}

/** k of n per condition: what the report tables show (a sum over the condition's prompts). */
export interface ConditionCount {
  condition: string;
  k: number;
  n: number;
}

export interface SeedCounts {
  seed: number;
  prompts: PromptCount[];
}

/** One arm × fraction: every seed trained there. */
export type CellCounts = SeedCounts[];

/** The name used when only a cell's total (k, n) is known, not its split by prompt. */
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

/** A seed known only by its total (k, n): one cluster. */
export function seedTotal(seed: number, k: number, n: number): SeedCounts {
  checkCount(k, n, `seed ${seed}`);
  return { seed, prompts: [{ prompt: ALL_CONDITIONS, condition: ALL_CONDITIONS, k, n }] };
}

export function totals(cell: CellCounts): { k: number; n: number } {
  let k = 0;
  let n = 0;
  for (const s of cell)
    for (const c of s.prompts) {
      k += c.k;
      n += c.n;
    }
  return { k, n };
}

/** Pooled rate: all samples of all seeds and prompts together. null when nothing was judged. */
export function pooledRate(cell: CellCounts): number | null {
  const { k, n } = totals(cell);
  return n ? k / n : null;
}

/** Counts summed by condition (over prompts, and over seeds); conditions with no samples are left out. */
export function byCondition(cell: CellCounts | ReadonlyArray<PromptCount>): ConditionCount[] {
  const rows: PromptCount[] = (cell as ReadonlyArray<SeedCounts | PromptCount>).flatMap((x) =>
    'prompts' in x ? x.prompts : [x],
  );
  const sums = new Map<string, ConditionCount>();
  for (const c of rows) {
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
  return cell.filter((s) => s.prompts.some((c) => c.n > 0));
}
