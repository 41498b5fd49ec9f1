import { createHash } from 'node:crypto';
import { mulberry32 } from '../util/mulberry32';

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
