import { aftSubsetSize, mixCount } from './aft-mix';
import { examplesNeeded } from './aft-subsets';
import { fractionLabel, parseFraction } from './fractions';

/**
 * Optimizer steps per AFT cell, computed the trainer's way (trainer/msm_trainer/train.py): rows = the
 * fraction's AFT examples plus its mix rows; steps = max(1, ceil(epochs × ceil(rows / batchSize))), capped
 * by maxSteps. A cell of one or two steps barely moves its start model, so a fraction under aft.minSteps is
 * refused before anything is paid, with the ways to fix it. Pure (the workflow uses batchAt too).
 */
export interface StepHyper {
  batchSize: number;
  microBatchSize?: number;
  epochs: number;
  maxSteps: number;
}

export interface StepSettings {
  fractions: number[];
  minSteps: number;
  hyper: StepHyper;
  batchSizeByFraction?: Record<string, number>;
  mix?: { ratio: number };
}

/** The effective batch of one fraction: its override in aft.batchSizeByFraction, else aft.hyper.batchSize. */
export function batchAt(a: Pick<StepSettings, 'hyper' | 'batchSizeByFraction'>, fraction: number): number {
  for (const [label, batch] of Object.entries(a.batchSizeByFraction ?? {}))
    if (Math.abs(parseFraction(label) - fraction) < 1e-12) return batch;
  return a.hyper.batchSize;
}

/**
 * The AFT hyper-parameters of one fraction's cells: its batch, and a micro-batch that divides the batch's
 * per-rank share (the largest divisor not above the planned one).
 */
export function hyperAt<H extends StepHyper>(
  a: { hyper: H; batchSizeByFraction?: Record<string, number> },
  fraction: number,
  worldSize: number,
): H {
  const batchSize = batchAt(a, fraction);
  if (batchSize === a.hyper.batchSize) return a.hyper;
  const share = Math.max(1, Math.floor(batchSize / worldSize));
  let micro = Math.min(a.hyper.microBatchSize ?? share, share);
  while (share % micro !== 0) micro--;
  return { ...a.hyper, batchSize, ...(a.hyper.microBatchSize !== undefined ? { microBatchSize: micro } : {}) };
}

const rowsAt = (examples: number, fraction: number, mix?: { ratio: number }) => {
  const k = aftSubsetSize(examples, fraction);
  return k + (mix ? mixCount(k, mix.ratio) : 0);
};

/** Optimizer steps a cell of this fraction takes. */
export function stepsAt(examples: number, fraction: number, a: StepSettings): number {
  const h = a.hyper;
  const perEpoch = Math.ceil(rowsAt(examples, fraction, a.mix) / batchAt(a, fraction));
  const total = Math.max(1, Math.ceil(h.epochs * perEpoch - 1e-9));
  return h.maxSteps > 0 ? Math.min(total, h.maxSteps) : total;
}

/** Fewest AFT examples in the data for which the fraction takes minSteps at its batch and epochs. */
function examplesForSteps(fraction: number, a: StepSettings): number {
  const batch = batchAt(a, fraction);
  const rowsNeeded = (Math.ceil(a.minSteps / a.hyper.epochs) - 1) * batch + 1;
  let k = Math.max(1, Math.floor(rowsNeeded / (1 + (a.mix?.ratio ?? 0))));
  while (k + (a.mix ? mixCount(k, a.mix.ratio) : 0) < rowsNeeded) k++;
  return examplesNeeded(fraction, k);
}

/** The ways to give one fraction minSteps steps, as the refusal lists them. */
function fixes(examples: number, fraction: number, a: StepSettings, worldSize: number): string[] {
  const rows = rowsAt(examples, fraction, a.mix);
  const label = fractionLabel(fraction);
  const out: string[] = [];
  const perEpochNeeded = Math.ceil(a.minSteps / a.hyper.epochs);
  const batch = Math.floor(rows / perEpochNeeded / worldSize) * worldSize;
  if (batch >= worldSize)
    out.push(`give that fraction a smaller batch (aft.batchSizeByFraction: {"${label}": ${batch}})`);
  if (a.hyper.maxSteps > 0 && a.hyper.maxSteps < a.minSteps) out.push(`raise aft.hyper.maxSteps (${a.hyper.maxSteps})`);
  else out.push(`give more AFT data (at least ${examplesForSteps(fraction, a)} examples)`);
  const epochs = Math.ceil(a.minSteps / Math.ceil(rows / batchAt(a, fraction)));
  out.push(`train more epochs (aft.hyper.epochs: ${epochs}, for every fraction)`);
  out.push('or lower aft.minSteps on purpose');
  return out;
}

/** The fractions whose cells would take fewer than minSteps optimizer steps, each with its fixes (empty: none). */
export function stepProblems(examples: number, a: StepSettings, source: string, worldSize = 1): string[] {
  return a.fractions.flatMap((fraction) => {
    const steps = stepsAt(examples, fraction, a);
    if (steps >= a.minSteps) return [];
    const rows = rowsAt(examples, fraction, a.mix);
    return [
      `aft.fractions: ${fractionLabel(fraction)} trains ${rows} row${rows === 1 ? '' : 's'} (of the ${examples} examples in ${source}${a.mix ? ', mix included' : ''}) ` +
        `in ${steps} optimizer step${steps === 1 ? '' : 's'} at batch ${batchAt(a, fraction)}, under aft.minSteps ${a.minSteps}: ` +
        `a cell that barely trains measures its starting model, not AFT. Fix: ${fixes(examples, fraction, a, worldSize).join('; ')}`,
    ];
  });
}

/**
 * Fractions whose first epoch aft.hyper.maxSteps cuts short: the cell sees fewer examples than its
 * fraction says (a warning: toy runs do it on purpose; the report counts what each cell saw).
 */
export function truncationWarnings(examples: number, a: StepSettings): string[] {
  if (!(a.hyper.maxSteps > 0)) return [];
  return a.fractions.flatMap((fraction) => {
    const rows = rowsAt(examples, fraction, a.mix);
    const seen = a.hyper.maxSteps * batchAt(a, fraction);
    return seen < rows
      ? [
          `aft.hyper.maxSteps: ${a.hyper.maxSteps} steps stop ${fractionLabel(fraction)} after ${seen} of its ${rows} rows, so that cell trains on less than its fraction says; raise maxSteps (or set it to 0) for a real sweep`,
        ]
      : [];
  });
}
