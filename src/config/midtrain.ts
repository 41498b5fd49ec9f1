import type { Experiment } from './experiment-schema';

/** The settings beside the hyper-parameters in midtrain: experiment-level, never sent to the trainer. */
type NotHyper = 'placeboSpec' | 'seeds' | 'corpusDraws';
/** The hyper-parameters of a training run (midtraining, or AFT's own). */
export type TrainHyper = Omit<Experiment['midtrain'], NotHyper>;

/**
 * midtrain as the trainer takes it: the hyper-parameters without the experiment-level settings that sit
 * beside them (placeboSpec, seeds, corpusDraws), so runs keep their keys and manifests their schema.
 */
export function midtrainHyper(m: Experiment['midtrain']): TrainHyper {
  const { placeboSpec: _spec, seeds: _seeds, corpusDraws: _draws, ...hyper } = m;
  return hyper;
}

/**
 * The midtraining seeds of an experiment: [0] when unset (also for experiments loaded before the field
 * existed, whose recorded histories must replay as one run).
 */
export const midtrainSeeds = (m: Partial<Pick<Experiment['midtrain'], 'seeds'>>): number[] => m.seeds ?? [0];

/**
 * What a midtraining seed adds to the names of its runs and cells: nothing for seed 0, so an experiment
 * of one run keeps the workflow ids and store keys it always had; "-m<seed>" for the others.
 */
export const midtrainSuffix = (seed: number): string => (seed === 0 ? '' : `-m${seed}`);

/** A midtraining's run label (its workflow id's tail, its compute and loss-curve name): midtrain[-placebo][-m<seed>]. */
export const midtrainLabel = (corpus: 'msm' | 'placebo', seed = 0): string =>
  `${corpus === 'msm' ? 'midtrain' : 'midtrain-placebo'}${midtrainSuffix(seed)}`;

/**
 * The corpus draw a midtraining seed midtrains on: its own (per-seed) or the first one (shared). Draw 0
 * is the corpus every experiment always had (its id does not name a draw).
 */
export const corpusDrawOf = (m: Partial<Pick<Experiment['midtrain'], 'corpusDraws'>>, seed: number): number =>
  m.corpusDraws === 'shared' ? 0 : seed;

/**
 * How a placebo corpus was matched to the MSM corpus: the MSM corpus's tokens are the target; the placebo
 * corpus (same generation settings, unrelated spec) is tokenized in its shuffled order and cut at the target.
 * `short` > 0: the placebo corpus had fewer tokens than the target, so it trained on that many fewer.
 */
export interface PlaceboMatch {
  targetTokens: number;
  placeboTokens: number;
  short: number;
}

export const placeboMatch = (targetTokens: number, placeboTokens: number): PlaceboMatch => ({
  targetTokens,
  placeboTokens,
  short: Math.max(0, targetTokens - placeboTokens),
});
