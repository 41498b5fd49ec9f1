/**
 * How many examples an AFT cell trains on, computed the trainer's way (trainer/msm_trainer/data.py
 * subset_rows and mixing.py mix_count), so a mix set too small for a cell is refused before any training.
 */

/** AFT examples a fraction selects: ceil(fraction * n), at least one. */
export function aftSubsetSize(n: number, fraction: number): number {
  return Math.max(1, Math.ceil(fraction * n - 1e-9));
}

/** Mix examples that go with k AFT examples: round(ratio * k), halves up. */
export function mixCount(aftExamples: number, ratio: number): number {
  return Math.floor(ratio * aftExamples + 0.5);
}

/** The problem with a mix set for these AFT data and fractions, or null when every cell has enough. */
export function mixShortfall(
  aftExamples: number,
  fractions: number[],
  ratio: number,
  mixExamples: number,
): string | null {
  const k = aftSubsetSize(aftExamples, Math.max(...fractions));
  const need = mixCount(k, ratio);
  if (need <= mixExamples) return null;
  return (
    `aft.mix.ratio: ${ratio} mix examples per AFT example needs ${need} mix examples for the ${k} AFT examples ` +
    `of the largest fraction, but aft.mix.data has ${mixExamples}; add examples to it or lower aft.mix.ratio`
  );
}
