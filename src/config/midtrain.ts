import type { Experiment } from './experiment-schema';

/**
 * midtrain as the trainer takes it: the hyper-parameters without the experiment-level settings that sit
 * beside them (placeboSpec), so runs keep their keys and manifests their schema.
 */
export function midtrainHyper(m: Experiment['midtrain']): Omit<Experiment['midtrain'], 'placeboSpec'> {
  const { placeboSpec: _notHyper, ...hyper } = m;
  return hyper;
}

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
