import { aftSubsetSize } from './aft-mix';
import { fractionLabel } from './fractions';

/**
 * What each AFT fraction trains on, computed the trainer's way (trainer/msm_trainer/data.py subset_rows):
 * ceil(fraction × examples), at least one. A cell on a handful of examples measures noise, and two
 * fractions with the same count are one cell run twice, so both are refused before anything is paid.
 */
export interface FractionCount {
  fraction: number;
  label: string;
  examples: number;
  /** Optimizer steps a cell of this fraction takes (absent in plans recorded before steps were counted). */
  steps?: number;
}

export function fractionCounts(
  examples: number,
  fractions: number[],
  stepsOf?: (fraction: number) => number,
): FractionCount[] {
  return fractions.map((fraction) => ({
    fraction,
    label: fractionLabel(fraction),
    examples: aftSubsetSize(examples, fraction),
    ...(stepsOf ? { steps: stepsOf(fraction) } : {}),
  }));
}

/** Fewest examples for which `fraction` selects at least `min`. */
export function examplesNeeded(fraction: number, min: number): number {
  let n = Math.max(1, Math.floor((min - 1) / fraction));
  while (aftSubsetSize(n, fraction) < min) n++;
  return n;
}

/**
 * The problems with these fractions for a data set of `examples` (empty when none): fractions under
 * `minExamples`, and fractions that select the same number of examples. `source` says where the count
 * comes from (the file, or aft.generate.count).
 */
export function fractionProblems(examples: number, fractions: number[], minExamples: number, source: string): string[] {
  const counts = fractionCounts(examples, fractions);
  const problems: string[] = [];
  const small = counts.filter((c) => c.examples < minExamples);
  if (small.length) {
    const smallest = Math.min(...small.map((c) => c.fraction));
    problems.push(
      `aft.fractions: ${small.map((c) => `${c.label} trains on ${plural(c.examples)}`).join(', ')} of the ${examples} in ${source}, ` +
        `under aft.minExamples ${minExamples}: give more AFT data (${fractionLabel(smallest)} needs at least ${examplesNeeded(smallest, minExamples)} examples), ` +
        'use larger fractions, or lower aft.minExamples on purpose',
    );
  }
  const byCount = new Map<number, FractionCount[]>();
  for (const c of counts) byCount.set(c.examples, [...(byCount.get(c.examples) ?? []), c]);
  for (const [n, same] of byCount) {
    if (same.length < 2) continue;
    problems.push(
      `aft.fractions: ${same.map((c) => c.label).join(' and ')} ${same.length === 2 ? 'both' : 'all'} train on the same ${plural(n)} of ${examples}: ` +
        'they would be the same cell run twice; drop all but one, or give more AFT data so they differ',
    );
  }
  return problems;
}

/** "AFT examples per fraction" as one line, e.g. "1/1 → 960 (60 steps), 1/4 → 240 (15 steps)". */
export function formatFractionCounts(counts: FractionCount[]): string {
  return counts
    .map(
      (c) =>
        `${c.label} → ${c.examples}${c.steps === undefined ? '' : ` (${c.steps} step${c.steps === 1 ? '' : 's'})`}`,
    )
    .join(', ');
}

const plural = (n: number) => `${n} example${n === 1 ? '' : 's'}`;

/**
 * How the AFT cells draw their data, for the workflow and the report: the examples per fraction (with
 * aft.generate: of the count planned) and whether each seed drew its own subsets (aft.subsetBySeed).
 */
export interface AftSubsetPlan {
  subsetBySeed: boolean;
  minExamples: number;
  /** aft.minSteps (absent in plans recorded before it existed). */
  minSteps?: number;
  examples: number;
  counted: 'aft.data' | 'aft.generate.count';
  perFraction: FractionCount[];
}
