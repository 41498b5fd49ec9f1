import { createHash } from 'node:crypto';

/** mulberry32: tiny, fast, and the same on every platform (Math.random is neither seedable nor stable). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A permutation of 0..n-1 fixed by seed (any number; hashed so nearby seeds give unrelated orders). */
export function seededPermutation(n: number, seed: number): Uint32Array {
  const rand = mulberry32(createHash('sha256').update(`msm-shuffle:${seed}`).digest().readUInt32LE(0));
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
