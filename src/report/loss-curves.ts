import type { ArtifactStore } from '../store/artifact-store';
import { cellId } from './results';

/** One training run whose loss curve the report plots: midtraining, or an AFT cell (arm, fraction, seed). */
export interface LossRun {
  label: string;
  /** The run's final output: the trainer writes loss_curve.json into it. */
  outputUri: string;
  cell?: { arm: string; fraction: number; seed: number };
}

/** A run's per-step losses, or null when its output has none (written before the trainer recorded them). */
export interface LossCurve extends LossRun {
  losses: number[] | null;
  /** The learning rate of every step; null when the output has none (written before the trainer recorded them). */
  learningRates: number[] | null;
}

export const LOSS_CURVE_FILE = 'loss_curve.json';
/** Points drawn per line: long runs are averaged into this many buckets (the SVG stays small). */
const MAX_POINTS = 300;

/** The runs of a report: midtraining first, then every AFT cell in the order the workflow ran them. */
export function lossRuns(
  midtrainUri: string | null,
  cells: { arm: string; fraction: number; seed: number; midtrainSeed?: number; outputUri: string }[],
  otherMidtrains: ReadonlyArray<{ label: string; outputUri: string }> = [],
): LossRun[] {
  return [
    ...(midtrainUri ? [{ label: 'midtrain', outputUri: midtrainUri }] : []),
    ...otherMidtrains,
    ...cells.map((c) => ({
      label: cellId(c.arm, c.fraction, c.seed, c.midtrainSeed),
      outputUri: c.outputUri,
      cell: { arm: c.arm, fraction: c.fraction, seed: c.seed },
    })),
  ];
}

/**
 * Read each run's loss_curve.json. keyOf maps an output URI to its key in this store (null: elsewhere). A
 * missing or unreadable curve is recorded as null, never an error: old outputs have none.
 */
export async function readLossCurves(
  store: ArtifactStore,
  runs: LossRun[],
  keyOf: (uri: string) => string | null,
  onRead?: (read: number) => void,
): Promise<LossCurve[]> {
  const out: LossCurve[] = [];
  for (const run of runs) {
    out.push({ ...run, ...(await readCurve(store, keyOf(run.outputUri))) });
    onRead?.(out.length);
  }
  return out;
}

const NONE = { losses: null, learningRates: null };

async function readCurve(
  store: ArtifactStore,
  outputKey: string | null,
): Promise<{ losses: number[] | null; learningRates: number[] | null }> {
  if (outputKey === null) return NONE;
  const key = `${outputKey.replace(/\/$/, '')}/${LOSS_CURVE_FILE}`;
  if (!(await store.exists(key))) return NONE;
  try {
    const parsed = JSON.parse((await store.get(key)).toString('utf8')) as {
      step_losses?: unknown;
      step_learning_rates?: unknown;
    };
    // JSON has no NaN: the trainer's non-finite losses arrive as null and are left out of the line.
    const numbers = (xs: unknown) =>
      Array.isArray(xs) ? xs.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : NaN)) : null;
    return { losses: numbers(parsed.step_losses), learningRates: numbers(parsed.step_learning_rates) };
  } catch {
    return NONE;
  }
}

/** Mean of each of at most MAX_POINTS equal runs of steps, placed at their last step (1-based). */
export function downsample(losses: number[], max = MAX_POINTS): { step: number; loss: number }[] {
  const size = Math.max(1, Math.ceil(losses.length / max));
  const out: { step: number; loss: number }[] = [];
  for (let i = 0; i < losses.length; i += size) {
    const part = losses.slice(i, i + size).filter((v) => Number.isFinite(v));
    if (part.length)
      out.push({ step: Math.min(i + size, losses.length), loss: part.reduce((a, b) => a + b, 0) / part.length });
  }
  return out;
}

/** The panels of the loss figure: midtraining, then one per AFT arm (its fractions and seeds as lines). */
export function lossPanels(curves: LossCurve[]): { title: string; curves: LossCurve[] }[] {
  const panels = curves.some((c) => !c.cell) ? [{ title: 'Midtraining', curves: curves.filter((c) => !c.cell) }] : [];
  const arms = [...new Set(curves.flatMap((c) => (c.cell ? [c.cell.arm] : [])))];
  for (const arm of arms) panels.push({ title: `AFT: ${arm}`, curves: curves.filter((c) => c.cell?.arm === arm) });
  return panels;
}
