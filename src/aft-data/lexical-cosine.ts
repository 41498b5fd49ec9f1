/**
 * Question dedup by cosine similarity of lexical vectors. No embedding model is available offline, so a
 * question's vector is deterministic and lexical: counts of its words, word bigrams and character
 * trigrams of each space-padded word, optionally weighted by smoothed IDF over the question pool. It
 * catches verbatim and near-verbatim repeats (reordered, re-punctuated, a word changed); a paraphrase in
 * other words is not caught. Pure, no I/O.
 */
export type SparseVector = Map<string, number>;

const words = (text: string) => text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];

/** Feature counts: "w:" words, "b:" word bigrams, "c:" trigrams of " word " (so short words count too). */
export function lexicalFeatures(text: string): SparseVector {
  const f: SparseVector = new Map();
  const add = (k: string) => f.set(k, (f.get(k) ?? 0) + 1);
  const ws = words(text);
  ws.forEach((w, i) => {
    add(`w:${w}`);
    if (i > 0) add(`b:${ws[i - 1]} ${w}`);
    const padded = ` ${w} `;
    for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`);
  });
  return f;
}

/** Smoothed inverse document frequency over a pool: ln((1 + N) / (1 + df)) + 1, so no weight is 0. */
export function inverseDocumentFrequency(pool: SparseVector[]): (feature: string) => number {
  const df = new Map<string, number>();
  for (const v of pool) for (const k of v.keys()) df.set(k, (df.get(k) ?? 0) + 1);
  const n = pool.length;
  return (k) => Math.log((1 + n) / (1 + (df.get(k) ?? 0))) + 1;
}

export function weighted(v: SparseVector, idf?: (feature: string) => number): SparseVector {
  if (!idf) return v;
  return new Map([...v].map(([k, c]) => [k, c * idf(k)]));
}

function dot(a: SparseVector, b: SparseVector): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let sum = 0;
  for (const [k, x] of small) sum += x * (large.get(k) ?? 0);
  return sum;
}

const norm = (v: SparseVector) => Math.sqrt([...v.values()].reduce((s, x) => s + x * x, 0));

/** Scaled to length 1 (an empty vector stays empty), so a dot product is the cosine. */
function unit(v: SparseVector): SparseVector {
  const n = norm(v);
  return n === 0 ? v : new Map([...v].map(([k, x]) => [k, x / n]));
}

export function cosine(a: SparseVector, b: SparseVector): number {
  const d = norm(a) * norm(b);
  return d === 0 ? 0 : dot(a, b) / d;
}

/**
 * Greedy dedup in input order: an item is a duplicate when its cosine with an item kept before it is at
 * least `threshold`. `keptBefore` are items kept in earlier rounds: compared against, never dropped.
 * Returns, for each of `texts`, the index in [...keptBefore, ...texts] of the kept item it duplicates
 * (null if kept), and its highest similarity to a kept item. Kept items go into an inverted index
 * (feature -> items and weights), so each item's cosines with every kept item are summed in one pass
 * over the postings of its own features.
 */
export function dedupByCosine(
  texts: string[],
  threshold: number,
  opts: { keptBefore?: string[]; idf?: boolean; onProgress?: (done: number, total: number) => void } = {},
): { duplicateOf: (number | null)[]; similarity: number[] } {
  const before = opts.keptBefore ?? [];
  const raw = [...before, ...texts].map(lexicalFeatures);
  const idf = opts.idf === false ? undefined : inverseDocumentFrequency(raw);
  const featureIds = new Map<string, number>();
  const vectors = raw.map((v) => {
    const u = unit(weighted(v, idf));
    const ids = [...u.keys()].map((k) => featureIds.get(k) ?? featureIds.set(k, featureIds.size).get(k)!);
    return { ids, weights: [...u.values()] };
  });
  const postingItems: number[][] = Array.from({ length: featureIds.size }, () => []);
  const postingWeights: number[][] = Array.from({ length: featureIds.size }, () => []);
  const keep = (i: number) =>
    vectors[i].ids.forEach((f, j) => {
      postingItems[f].push(i);
      postingWeights[f].push(vectors[i].weights[j]);
    });
  const kept: number[] = [];
  before.forEach((_, i) => (keep(i), kept.push(i)));
  const score = new Float64Array(vectors.length);
  const duplicateOf: (number | null)[] = [];
  const similarity: number[] = [];
  for (let i = before.length; i < vectors.length; i++) {
    const { ids, weights } = vectors[i];
    for (let j = 0; j < ids.length; j++) {
      const items = postingItems[ids[j]];
      const ws = postingWeights[ids[j]];
      for (let p = 0; p < items.length; p++) score[items[p]] += weights[j] * ws[p];
    }
    let best = -1;
    let bestSim = 0;
    for (const k of kept) {
      if (score[k] > bestSim) [best, bestSim] = [k, score[k]];
      score[k] = 0;
    }
    similarity.push(bestSim);
    if (best >= 0 && bestSim >= threshold) duplicateOf.push(best);
    else {
      duplicateOf.push(null);
      kept.push(i);
      keep(i);
    }
    if ((i - before.length) % 200 === 199) opts.onProgress?.(i - before.length + 1, texts.length);
  }
  return { duplicateOf, similarity };
}

/**
 * The same greedy dedup over dense vectors (from an embeddings endpoint). `keptBefore` holds the vectors
 * of earlier rounds' kept items; indexes in the result count them first, as in dedupByCosine.
 */
export function dedupDense(
  vectors: number[][],
  threshold: number,
  opts: { keptBefore?: number[][]; onProgress?: (done: number, total: number) => void } = {},
): { duplicateOf: (number | null)[]; similarity: number[] } {
  const before = opts.keptBefore ?? [];
  const units = [...before, ...vectors].map((v) => {
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return Float64Array.from(v, (x) => (n === 0 ? 0 : x / n));
  });
  const kept: number[] = before.map((_, i) => i);
  const duplicateOf: (number | null)[] = [];
  const similarity: number[] = [];
  for (let i = before.length; i < units.length; i++) {
    let best = -1;
    let bestSim = 0;
    for (const k of kept) {
      const a = units[i];
      const b = units[k];
      let s = 0;
      for (let d = 0; d < a.length; d++) s += a[d] * b[d];
      if (s > bestSim) [best, bestSim] = [k, s];
    }
    similarity.push(bestSim);
    if (best >= 0 && bestSim >= threshold) duplicateOf.push(best);
    else {
      duplicateOf.push(null);
      kept.push(i);
    }
    if ((i - before.length) % 200 === 199) opts.onProgress?.(i - before.length + 1, vectors.length);
  }
  return { duplicateOf, similarity };
}
