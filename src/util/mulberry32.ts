/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/**
 * mulberry32: a tiny seeded 32-bit generator, the same on every platform. Shuffles and statistics must
 * be reproducible from their seed alone, so nothing may use Math.random (neither seedable nor stable).
 */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
