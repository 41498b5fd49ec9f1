import { describe, expect, it } from 'vitest';
import { estimatedJaccard, NearDuplicateIndex, shingles, signature } from '../../src/util/minhash';

const words = (n: number, seed: number) => {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s);
  return Array.from({ length: n }, () => `w${next() % 5000}`).join(' ');
};

function exactJaccard(a: string, b: string): number {
  const x = shingles(a);
  const y = shingles(b);
  let inter = 0;
  for (const v of x) if (y.has(v)) inter++;
  return inter / (x.size + y.size - inter);
}

describe('MinHash near-duplicates', () => {
  const base = words(400, 1);
  const edited = base.replace(/^((?:\S+ ){200})\S+ \S+/, '$1changed words'); // two words replaced mid-document

  it('estimates Jaccard similarity within sampling error', () => {
    for (const other of [edited, words(400, 2), base.split(' ').slice(0, 250).join(' ')]) {
      const exact = exactJaccard(base, other);
      expect(Math.abs(estimatedJaccard(signature(base), signature(other)) - exact)).toBeLessThan(0.08);
    }
    expect(exactJaccard(base, edited)).toBeGreaterThan(0.9);
    expect(exactJaccard(base, words(400, 2))).toBeLessThan(0.05);
  });

  it('flags a lightly edited copy, and case or spacing changes, but not a different document', () => {
    const index = new NearDuplicateIndex(0.8);
    expect(index.add('a', base)).toBeNull();
    expect(index.add('b', words(400, 2))).toBeNull();
    expect(index.add('c', edited)).toBe('a');
    expect(index.add('d', base.toUpperCase().replace(/ /g, '\n  '))).toBe('a');
    expect(index.add('e', words(400, 3))).toBeNull();
  });

  it('is deterministic and rejects a meaningless threshold', () => {
    expect(Array.from(signature(base))).toEqual(Array.from(signature(base)));
    expect(() => new NearDuplicateIndex(0)).toThrow(/threshold/);
    expect(() => new NearDuplicateIndex(1.5)).toThrow(/threshold/);
  });
});
