import { needsMidtraining, needsPlacebo, startsFromMidtraining, type Arm } from '../config/arms';
import type { Experiment } from '../config/experiment-schema';
import { midtrainSeeds } from '../config/midtrain';

/**
 * How many corpora and midtraining runs an experiment pays for, and how many times an arm's cells run:
 * each midtraining seed (midtrain.seeds) midtrains every start an arm uses (msm, placebo) on its corpus
 * draw (its own, or one shared draw); arms that start from a midtraining have their cells once per seed.
 */
export interface MidtrainingRuns {
  seeds: number;
  /** Corpus generations: per start used, one per draw. */
  corpora: number;
  /** Midtraining jobs: per start used, one per seed. */
  runs: number;
  /** How many times an arm's cells run: once per midtraining seed, once for arms that start from the base model. */
  cellsPerArm: (arm: Arm) => number;
}

export function midtrainingRuns(x: Pick<Experiment, 'midtrain'>, arms: readonly Arm[]): MidtrainingRuns {
  const seeds = midtrainSeeds(x.midtrain).length;
  const draws = x.midtrain.corpusDraws === 'shared' ? 1 : seeds;
  const starts = (needsMidtraining(arms) ? 1 : 0) + (needsPlacebo(arms) ? 1 : 0);
  return {
    seeds,
    corpora: starts * draws,
    runs: starts * seeds,
    cellsPerArm: (arm) => (startsFromMidtraining(arm) ? seeds : 1),
  };
}
