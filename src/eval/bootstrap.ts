import { countOutcomes, informativeSeeds, seedTotal, type CellCounts } from './counts';
import { binomial, mulberry32, randomIndex, type Rng } from './random';

/**
 * The cluster bootstrap behind every interval of the report. Samples of one prompt from one trained model
 * are not independent draws (50 samples of one prompt may all agree), so the units resampled are the
 * clusters of the design: the eval's prompts (drawn with replacement once per replicate and shared by every
 * arm, because every arm answers the same prompts) and each arm × fraction's training seeds (drawn with
 * replacement per group, because different groups are different trained models). This is the two-way
 * ("pigeonhole") bootstrap for a crossed design; it errs wide rather than narrow. Only when a group's split
 * by prompt is unknown (one cluster: results recorded before prompts were kept, or a single prompt) are the
 * samples within it redrawn as if independent, and the methods say so.
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
 * k' of n drawn with replacement from n outcomes of which k are 1: k' ~ Binomial(n, k/n) exactly, drawn
 * without touching the n outcomes one by one.
 */
export function resampleCount(k: number, n: number, rng: Rng): number {
  if (k === 0 || k === n) return k;
  return binomial(n, k / n, rng);
}

interface Group {
  /** Per informative seed, k and n per prompt index of the design (0 where the seed has no sample of it). */
  k: Float64Array[];
  n: Float64Array[];
}

/** What a statistic may ask of the data, or of one bootstrap replicate of it. */
export interface ClusterView {
  /** All samples of the group's seeds and prompts together; null when nothing was judged. */
  pooled(group: string): number | null;
  /** The mean of per-condition rates; null when nothing was judged. */
  macro(group: string): number | null;
  /** k and n per judge kind (prompts whose kind is unknown under ""), for correcting judge error. */
  byKind(group: string): Map<string, { k: number; n: number }>;
}

/** Distinct values in first-seen order, and each position's index among them. */
function indexed(values: readonly string[]): { names: string[]; of: Int32Array } {
  const names: string[] = [];
  const at = new Map<string, number>();
  const of = new Int32Array(values.length);
  values.forEach((v, i) => {
    if (!at.has(v)) at.set(v, names.push(v) - 1);
    of[i] = at.get(v)!;
  });
  return { names, of };
}

/** Groups (arm × fraction cells, controls) laid out on one shared list of prompt clusters. */
export class ClusterData {
  readonly prompts: string[] = [];
  private readonly conditions: { names: string[]; of: Int32Array };
  private readonly kinds: { names: string[]; of: Int32Array };
  private readonly groups = new Map<string, Group>();

  constructor(groups: ReadonlyMap<string, CellCounts>) {
    const index = new Map<string, number>();
    const conditionOf: string[] = [];
    const kindOf: string[] = [];
    for (const cell of groups.values())
      for (const s of cell)
        for (const p of s.prompts)
          // A prompt with nothing judged (only unjudged samples) carries no information: not a cluster.
          if (p.n > 0 && !index.has(p.prompt)) {
            index.set(p.prompt, this.prompts.push(p.prompt) - 1);
            conditionOf.push(p.condition);
            kindOf.push(p.kind ?? '');
          }
    this.conditions = indexed(conditionOf);
    this.kinds = indexed(kindOf);
    for (const [name, cell] of groups) {
      const g: Group = { k: [], n: [] };
      for (const s of informativeSeeds(cell)) {
        const k = new Float64Array(this.prompts.length);
        const n = new Float64Array(this.prompts.length);
        for (const p of s.prompts) {
          const i = index.get(p.prompt);
          if (i === undefined) continue;
          k[i] += p.k;
          n[i] += p.n;
        }
        g.k.push(k);
        g.n.push(n);
      }
      this.groups.set(name, g);
    }
  }

  /** True when the prompt split is unknown: the only cluster is the whole eval. */
  get singleCluster(): boolean {
    return this.prompts.length <= 1;
  }

  seedsOf(group: string): number {
    return this.groups.get(group)?.k.length ?? 0;
  }

  /** The data as observed. */
  observed(): ClusterView {
    const weights = new Float64Array(this.prompts.length).fill(1);
    return this.view(weights, (g) => this.groups.get(g) ?? null);
  }

  /** One replicate: prompts drawn once (shared), each group's seeds drawn on first use (then kept). */
  replicate(rng: Rng): ClusterView {
    const weights = new Float64Array(this.prompts.length);
    for (let i = 0; i < this.prompts.length; i++) weights[randomIndex(rng, this.prompts.length)]++;
    const drawn = new Map<string, Group | null>();
    const groupOf = (name: string): Group | null => {
      if (!drawn.has(name)) drawn.set(name, this.drawSeeds(name, rng));
      return drawn.get(name)!;
    };
    return this.view(weights, groupOf);
  }

  private drawSeeds(name: string, rng: Rng): Group | null {
    const g = this.groups.get(name);
    if (!g || !g.k.length) return null;
    const out: Group = { k: [], n: [] };
    for (let i = 0; i < g.k.length; i++) {
      const j = randomIndex(rng, g.k.length);
      let k = g.k[j];
      // One cluster of prompts: the within-cell samples are all there is to redraw.
      if (this.singleCluster) k = k.map((x, p) => resampleCount(x, g.n[j][p], rng));
      out.k.push(k);
      out.n.push(g.n[j]);
    }
    return out;
  }

  /** k and n summed over a group's seeds, per category (condition or kind) of the prompts. */
  private sums(g: Group, weights: Float64Array, by: { names: string[]; of: Int32Array }) {
    const k = new Float64Array(by.names.length);
    const n = new Float64Array(by.names.length);
    for (let s = 0; s < g.k.length; s++)
      for (let p = 0; p < weights.length; p++) {
        const w = weights[p];
        if (!w) continue;
        k[by.of[p]] += w * g.k[s][p];
        n[by.of[p]] += w * g.n[s][p];
      }
    return { k, n };
  }

  private view(weights: Float64Array, groupOf: (g: string) => Group | null): ClusterView {
    return {
      pooled: (name) => {
        const g = groupOf(name);
        if (!g) return null;
        const { k, n } = this.sums(g, weights, this.kinds);
        const nn = n.reduce((a, b) => a + b, 0);
        return nn ? k.reduce((a, b) => a + b, 0) / nn : null;
      },
      macro: (name) => {
        const g = groupOf(name);
        if (!g) return null;
        const { k, n } = this.sums(g, weights, this.conditions);
        let total = 0;
        let count = 0;
        for (let c = 0; c < n.length; c++)
          if (n[c] > 0) {
            total += k[c] / n[c];
            count++;
          }
        return count ? total / count : null;
      },
      byKind: (name) => {
        const out = new Map<string, { k: number; n: number }>();
        const g = groupOf(name);
        if (!g) return out;
        const { k, n } = this.sums(g, weights, this.kinds);
        this.kinds.names.forEach((kind, i) => {
          if (n[i] > 0) out.set(kind, { k: k[i], n: n[i] });
        });
        return out;
      },
    };
  }
}

/**
 * A statistic of the data and of each replicate, from a generator seeded with settings.seed. `draw` is
 * null for the data as observed, and the replicate's generator otherwise (for a statistic that also draws,
 * such as judge error rates from their posteriors).
 */
export function clusterReplicates<T>(
  data: ClusterData,
  statistic: (view: ClusterView, draw: Rng | null) => T,
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): { estimate: T; replicates: T[] } {
  const rng = mulberry32(settings.seed);
  const estimate = statistic(data.observed(), null);
  const replicates: T[] = [];
  for (let b = 0; b < settings.resamples; b++) replicates.push(statistic(data.replicate(rng), rng));
  return { estimate, replicates };
}

/** Percentile interval of a numeric statistic; null when the estimate or every replicate is undefined. */
export function percentileInterval(
  estimate: number | null,
  replicates: ReadonlyArray<number | null>,
  level: number,
): Interval | null {
  if (estimate === null) return null;
  const values = replicates.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (!values.length) return null;
  const [lo, hi] = percentileBounds(values, level);
  return { estimate, lo, hi };
}

/**
 * Two-sided bootstrap p-value of "the statistic is 0": twice the smaller share of replicates on either
 * side of 0 (with the +1 that keeps it above 0), capped at 1. Consistent with the percentile interval: a
 * 95% interval excludes 0 roughly when p < 0.05.
 */
export function bootstrapPValue(replicates: ReadonlyArray<number | null>): number | null {
  const values = replicates.filter((v): v is number => v !== null);
  if (!values.length) return null;
  const below = values.filter((v) => v <= 0).length;
  const above = values.filter((v) => v >= 0).length;
  return Math.min(1, (2 * (Math.min(below, above) + 1)) / (values.length + 1));
}

/** One group's statistic with its interval. */
export function bootstrapGroup(
  data: ClusterData,
  group: string,
  stat: 'pooled' | 'macro' = 'pooled',
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): Interval | null {
  const { estimate, replicates } = clusterReplicates(data, (v) => v[stat](group), settings);
  return percentileInterval(estimate, replicates, settings.level);
}

/** A contrast a − b with its interval and two-sided p-value; prompts shared, seeds drawn per group. */
export function bootstrapContrast(
  data: ClusterData,
  a: string,
  b: string,
  stat: 'pooled' | 'macro' = 'pooled',
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): (Interval & { p: number }) | null {
  const diff = (v: ClusterView) => {
    const x = v[stat](a);
    const y = v[stat](b);
    return x === null || y === null ? null : x - y;
  };
  const { estimate, replicates } = clusterReplicates(data, diff, settings);
  const interval = percentileInterval(estimate, replicates, settings.level);
  const p = bootstrapPValue(replicates);
  return interval && p !== null ? { ...interval, p } : null;
}

/** Convenience for one cell: a statistic of its seeds with its interval (the cell alone in a design). */
export function bootstrapCell(
  cell: CellCounts,
  stat: 'pooled' | 'macro' = 'pooled',
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): Interval | null {
  return bootstrapGroup(new ClusterData(new Map([['cell', cell]])), 'cell', stat, settings);
}

/** Convenience for two cells answering the same prompts: a − b with its interval and p-value. */
export function bootstrapDifference(
  a: CellCounts,
  b: CellCounts,
  stat: 'pooled' | 'macro' = 'pooled',
  settings: BootstrapSettings = DEFAULT_BOOTSTRAP,
): (Interval & { p: number }) | null {
  const data = new ClusterData(
    new Map([
      ['a', a],
      ['b', b],
    ]),
  );
  return bootstrapContrast(data, 'a', 'b', stat, settings);
}

/** A cell from per-sample 0/1 outcomes, one array per training seed (seeds numbered 0, 1, ...); one cluster. */
export function cellFromOutcomes(bySeed: ReadonlyArray<ReadonlyArray<number | boolean>>): CellCounts {
  return bySeed.map((outcomes, seed) => {
    const { k, n } = countOutcomes(outcomes);
    return seedTotal(seed, k, n);
  });
}

/** A cell from per-sample 0/1 outcomes per prompt, one record per training seed; each prompt its own condition. */
export function cellFromPromptOutcomes(
  bySeed: ReadonlyArray<Readonly<Record<string, ReadonlyArray<number | boolean>>>>,
): CellCounts {
  return bySeed.map((byPrompt, seed) => ({
    seed,
    prompts: Object.entries(byPrompt).map(([prompt, outcomes]) => ({
      prompt,
      condition: prompt,
      ...countOutcomes(outcomes),
    })),
  }));
}
