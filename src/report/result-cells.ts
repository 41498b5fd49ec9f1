import { fractionLabel } from '../config/fractions';
import {
  bootstrapGroup,
  ClusterData,
  clusterReplicates,
  percentileInterval,
  type BootstrapSettings,
  type ClusterView,
  type Interval,
} from '../eval/bootstrap';
import {
  ALL_CONDITIONS,
  byCondition,
  checkCount,
  type CellCounts,
  type PromptCount,
  type SeedCounts,
} from '../eval/counts';
import { correctedRate, drawRates, pointRates, type ErrorRates, type JudgeErrors } from '../eval/judge-error';
import type { Rng } from '../eval/random';
import { seedSpread } from '../eval/seed-spread';
import { wilson, type RateInterval } from '../eval/stats';
import { controlId, valueShares, type ControlInput, type RateStats, type ValueCounts } from './arms';
import type { CalibrationSection } from './claims';
import {
  cellGroup,
  cellId,
  controlGroup,
  pointGroup,
  type CurvePoint,
  type ReportInput,
  type ResultCell,
} from './results-types';

/**
 * The report's numbers per cell, per arm × fraction and per control, all from one cluster design: every
 * group answers the same eval prompts, so one prompt draw serves every interval of a replicate.
 */

type InputCell = ReportInput['cells'][number];

/** A cell's split by prompt: the prompts when recorded, else its conditions (each one cluster), else its total. */
export function promptsOf(c: {
  eval: { k: number; n: number };
  prompts?: PromptCount[];
  conditions?: InputCell['conditions'];
}): PromptCount[] {
  if (c.prompts) return [...c.prompts].sort((a, b) => a.prompt.localeCompare(b.prompt));
  if (c.conditions) return c.conditions.map((x) => ({ prompt: x.condition, condition: x.condition, k: x.k, n: x.n }));
  return [{ prompt: ALL_CONDITIONS, condition: ALL_CONDITIONS, k: c.eval.k, n: c.eval.n }];
}

function checkSplit(c: InputCell | ControlInput, id: string): void {
  checkCount(c.eval.k, c.eval.n, id);
  const split = promptsOf(c);
  const k = split.reduce((s, x) => s + x.k, 0);
  const n = split.reduce((s, x) => s + x.n, 0);
  if (k !== c.eval.k || n !== c.eval.n)
    throw new Error(`${id}: its prompts add up to ${k}/${n} but the cell has ${c.eval.k}/${c.eval.n}`);
}

/**
 * Every group of the report: each cell alone, each arm × fraction, each control. An arm × fraction's
 * clusters are its training seeds; with several midtrainings (midtrain.seeds) an arm that starts from one
 * has the midtraining runs as its clusters instead, each holding all its AFT seeds, so a replicate redraws
 * whole midtrainings and the interval carries the spread between corpus draws and midtraining seeds.
 */
export function clusterDataOf(input: ReportInput): ClusterData {
  const groups = new Map<string, CellCounts>();
  const points = new Map<string, Map<string, SeedCounts>>();
  for (const c of input.cells) {
    const id = cellId(c.arm, c.fraction, c.seed, c.midtrainSeed);
    checkSplit(c, id);
    const prompts = promptsOf(c);
    groups.set(cellGroup(id), [{ seed: c.seed, prompts }]);
    const point = pointGroup(c.arm, c.fraction);
    const clusters = points.get(point) ?? new Map<string, SeedCounts>();
    points.set(point, clusters);
    // Prompt rows of one cluster add up in ClusterData, so a midtraining's seeds join by concatenation.
    const key = c.midtrainSeed === undefined ? `s${c.seed}` : `m${c.midtrainSeed}`;
    const seed = c.midtrainSeed ?? c.seed;
    clusters.set(key, { seed, prompts: [...(clusters.get(key)?.prompts ?? []), ...prompts] });
  }
  for (const [point, clusters] of points) groups.set(point, [...clusters.values()]);
  for (const c of input.controls ?? []) {
    checkSplit(c, controlId(c));
    groups.set(controlGroup(controlId(c)), [{ seed: c.seed, prompts: promptsOf(c) }]);
  }
  return new ClusterData(groups);
}

/** The judge's error counts per calibrated kind; null when nothing is known of them (not calibrated). */
export function judgeErrorsOf(calibration: CalibrationSection): Map<string, JudgeErrors> | null {
  if (!calibration.kinds.length) return null;
  return new Map(calibration.kinds.map((k) => [k.kind, k]));
}

/** Intervals of one group's rate: cluster bootstrap, corrected for judge error, and the Wilson reference. */
export class RateStatsOf {
  constructor(
    readonly data: ClusterData,
    private readonly errors: Map<string, JudgeErrors> | null,
    readonly settings: BootstrapSettings,
  ) {}

  /**
   * Error rates per kind: the calibration's point estimates, or one posterior draw of them. Samples whose
   * kind was not recorded ("") take the judge's only kind when it has one (else they cannot be corrected).
   */
  rates(draw: Rng | null): Map<string, ErrorRates> {
    const out = new Map<string, ErrorRates>();
    for (const [kind, e] of this.errors ?? []) out.set(kind, draw ? drawRates(e, draw) : pointRates(e));
    if (out.size === 1) out.set('', [...out.values()][0]);
    return out;
  }

  corrected(view: ClusterView, group: string, draw: Rng | null): number | null {
    return this.errors ? correctedRate(view.byKind(group), this.rates(draw)) : null;
  }

  of(group: string, k: number, n: number): RateStats {
    const w = wilson(k, n);
    const cluster = n ? bootstrapGroup(this.data, group, 'pooled', this.settings) : null;
    const { estimate, replicates } = clusterReplicates(
      this.data,
      (v, draw) => this.corrected(v, group, draw),
      this.settings,
    );
    const corrected = n ? percentileInterval(estimate, replicates, this.settings.level) : null;
    return {
      misalignment: cluster ? { ...w, lo: cluster.lo, hi: cluster.hi } : w,
      wilson: w,
      corrected,
      withinJudgeError: Boolean(corrected && k > 0 && corrected.lo <= 1e-9),
    };
  }
}

function cellOf(c: InputCell, startsFrom: string, stats: RateStatsOf): ResultCell {
  const id = cellId(c.arm, c.fraction, c.seed, c.midtrainSeed);
  const prompts = c.prompts ? promptsOf(c) : null;
  return {
    id,
    arm: c.arm,
    fraction: c.fraction,
    fractionLabel: fractionLabel(c.fraction),
    seed: c.seed,
    ...(c.midtrainSeed !== undefined && { midtrainSeed: c.midtrainSeed }),
    startsFrom,
    trainFinalLoss: c.trainFinalLoss !== null && Number.isFinite(c.trainFinalLoss) ? c.trainFinalLoss : null,
    modelUri: c.modelUri,
    eval: c.eval,
    training: c.training ?? null,
    conditions: prompts ? byCondition(prompts) : c.conditions ? byCondition(promptsOf(c)) : null,
    prompts,
    misalignment: stats.of(cellGroup(id), c.eval.k, c.eval.n).misalignment,
    unjudged: c.eval.unjudged ?? 0,
    executed: c.executed ? wilson(c.executed.k, c.executed.n) : null,
    unparsed: c.unparsed ? wilson(c.unparsed.k, c.unparsed.n) : null,
    truncated: c.truncated ? wilson(c.truncated.k, c.truncated.n) : null,
    values: valueShares([c.values]),
  };
}

/** Every trained cell with its interval and the model it started from. */
export function resultCells(
  input: ReportInput,
  startsFromOf: (arm: string, midtrainSeed?: number) => string,
  stats: RateStatsOf,
): ResultCell[] {
  return input.cells.map((c) => cellOf(c, startsFromOf(c.arm, c.midtrainSeed), stats));
}

/** The cells by arm and fraction: each group's seeds in order, each arm's fractions largest first. */
export class CellGrid {
  constructor(readonly cells: ResultCell[]) {}

  group(arm: string, fraction: number): ResultCell[] {
    return this.cells
      .filter((c) => c.arm === arm && c.fraction === fraction)
      .sort((a, b) => a.seed - b.seed || (a.midtrainSeed ?? 0) - (b.midtrainSeed ?? 0));
  }

  fractionsOf(arm: string): number[] {
    return [...new Set(this.cells.filter((c) => c.arm === arm).map((c) => c.fraction))].sort((a, b) => b - a);
  }

  arms(): string[] {
    return [...new Set(this.cells.map((c) => c.arm))];
  }
}

/** A secondary count pooled over seeds: only when every seed has it, so the rate is over the same cells. */
function pooledSub(cells: readonly ResultCell[], what: 'executed' | 'unparsed' | 'truncated'): RateInterval | null {
  if (!cells.length || cells.some((c) => c[what] === null)) return null;
  return wilson(
    cells.reduce((s, c) => s + c[what]!.k, 0),
    cells.reduce((s, c) => s + c[what]!.n, 0),
  );
}

const asCounts = (g: readonly ResultCell[]): CellCounts =>
  g.map((c) => ({
    seed: c.seed,
    prompts: c.prompts ?? promptsOf({ eval: c.eval, conditions: c.conditions ?? undefined }),
  }));

/** One arm × fraction: the seeds pooled, with its cluster interval, macro-average and judge-corrected rate. */
export function curvePoint(
  g: ResultCell[],
  fraction: number,
  valuesOf: Map<string, ValueCounts | undefined>,
  stats: RateStatsOf,
): CurvePoint {
  const k = g.reduce((s, c) => s + c.eval.k, 0);
  const n = g.reduce((s, c) => s + c.eval.n, 0);
  const group = pointGroup(g[0].arm, fraction);
  const withConditions = g.every((c) => c.conditions !== null);
  const macro: Interval | null =
    withConditions && n ? bootstrapGroup(stats.data, group, 'macro', stats.settings) : null;
  return {
    fraction,
    fractionLabel: fractionLabel(fraction),
    seeds: g.length,
    cellIds: g.map((c) => c.id),
    ...stats.of(group, k, n),
    macro: macro && { ...macro, conditions: new Set(g.flatMap((c) => c.conditions!.map((x) => x.condition))).size },
    unjudged: g.reduce((s, c) => s + c.unjudged, 0),
    spread: seedSpread(asCounts(g)),
    executed: pooledSub(g, 'executed'),
    unparsed: pooledSub(g, 'unparsed'),
    truncated: pooledSub(g, 'truncated'),
    values: valueShares(g.map((c) => valuesOf.get(c.id))),
  };
}
