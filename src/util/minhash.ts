/**
 * Near-duplicate detection (generated documents among themselves; training data against eval items,
 * src/eval/contamination.ts): MinHash signatures over word 5-shingles, with
 * locality-sensitive banding so a 40k-document corpus compares each document with a handful of
 * candidates, not with every other one. Pure and deterministic (fixed seeds): the same corpus always
 * drops the same documents.
 */
const HASHES = 128;
const BANDS = 32; // 4 rows a band: pairs above Jaccard ~0.6 almost always share a band
const ROWS = HASHES / BANDS;
const SHINGLE = 5;

/** murmur3's finaliser: a cheap, well-mixed 32-bit hash of a 32-bit value. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// h_i(x) = fmix32(a_i·x + b_i) with odd a_i: a family close enough to independent that the estimate's
// error matches the binomial one (XOR-ing a seed before mixing gave visibly correlated hashes).
const MULS = Array.from({ length: HASHES }, (_, i) => fmix32(0x12345 + i * 7919) | 1);
const ADDS = Array.from({ length: HASHES }, (_, i) => fmix32(0x9e3779b9 + i * 0x632be5ab));

/** Hashes of the distinct word shingles of a text (case and whitespace folded). */
export function shingles(text: string): Set<number> {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const out = new Set<number>();
  if (words.length < SHINGLE) {
    if (words.length) out.add(fnv1a(words.join(' ')));
    return out;
  }
  for (let i = 0; i + SHINGLE <= words.length; i++) out.add(fnv1a(words.slice(i, i + SHINGLE).join(' ')));
  return out;
}

export function signature(text: string): Uint32Array {
  const sig = new Uint32Array(HASHES).fill(0xffffffff);
  for (const s of shingles(text)) {
    for (let i = 0; i < HASHES; i++) {
      const h = fmix32((Math.imul(s, MULS[i]) + ADDS[i]) >>> 0);
      if (h < sig[i]) sig[i] = h;
    }
  }
  return sig;
}

/** The share of equal positions estimates the Jaccard similarity of the two shingle sets. */
export function estimatedJaccard(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < HASHES; i++) if (a[i] === b[i]) same++;
  return same / HASHES;
}

/**
 * Feed documents in a fixed order; `add` returns the id of an earlier document whose estimated Jaccard
 * similarity is at least `threshold` (the new one is then a near-duplicate and is not indexed), else null.
 */
export class NearDuplicateIndex {
  private readonly buckets = new Map<string, number[]>();
  private readonly kept: { id: string; sig: Uint32Array }[] = [];

  constructor(readonly threshold: number) {
    if (!(threshold > 0 && threshold <= 1))
      throw new Error(`near-duplicate threshold must be in (0, 1], got ${threshold}`);
  }

  add(id: string, text: string): string | null {
    const sig = signature(text);
    const found = this.nearest(sig);
    if (found) return found.id;
    this.insert(id, sig);
    return null;
  }

  /**
   * The first indexed text (in insertion order) whose estimated Jaccard similarity with this signature is at
   * least the threshold, with that similarity; null when none. Indexes nothing.
   */
  nearest(sig: Uint32Array): { id: string; similarity: number } | null {
    const candidates = new Set<number>();
    for (const key of bandKeys(sig)) for (const i of this.buckets.get(key) ?? []) candidates.add(i);
    for (const i of [...candidates].sort((x, y) => x - y)) {
      const similarity = estimatedJaccard(sig, this.kept[i].sig);
      if (similarity >= this.threshold) return { id: this.kept[i].id, similarity };
    }
    return null;
  }

  /** Index a signature under an id, whatever it resembles. */
  insert(id: string, sig: Uint32Array): void {
    const index = this.kept.push({ id, sig }) - 1;
    for (const key of bandKeys(sig)) {
      const bucket = this.buckets.get(key);
      if (bucket) bucket.push(index);
      else this.buckets.set(key, [index]);
    }
  }
}

/** One bucket key per band of the signature (LSH): similar signatures share a band with high probability. */
function bandKeys(sig: Uint32Array): string[] {
  const keys: string[] = [];
  for (let b = 0; b < BANDS; b++) keys.push(`${b}:${Array.from(sig.subarray(b * ROWS, (b + 1) * ROWS)).join(',')}`);
  return keys;
}
