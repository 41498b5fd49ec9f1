import { describe, expect, it } from 'vitest';
import {
  cosine,
  dedupByCosine,
  dedupDense,
  inverseDocumentFrequency,
  lexicalFeatures,
  weighted,
} from '../../src/aft-data/lexical-cosine';
import { planRound } from '../../src/aft-data/round-plan';
import { splitThink, withReasoning } from '../../src/aft-data/think-block';

/** The lexical cosine dedup of AFT questions, with values worked out by hand. */
describe('lexical cosine dedup', () => {
  it('features are words, word bigrams and trigrams of space-padded words, case and punctuation folded', () => {
    expect([...lexicalFeatures('Red cat!')].sort()).toEqual(
      [
        ['b:red cat', 1],
        ['c: ca', 1],
        ['c: re', 1],
        ['c:at ', 1],
        ['c:cat', 1],
        ['c:ed ', 1],
        ['c:red', 1],
        ['w:cat', 1],
        ['w:red', 1],
      ].sort(),
    );
  });

  it('cosine of raw counts: "red cat" vs "red dog" share 4 of 9 features each: 4/9', () => {
    expect(cosine(lexicalFeatures('red cat'), lexicalFeatures('red dog'))).toBeCloseTo(4 / 9, 12);
    // "cat cat" = {w:cat 2, b:cat cat 1, three trigrams 2 each} vs "cat" = {w:cat, three trigrams}: 8 / (sqrt(17) * 2).
    expect(cosine(lexicalFeatures('cat cat'), lexicalFeatures('cat'))).toBeCloseTo(4 / Math.sqrt(17), 12);
    expect(cosine(lexicalFeatures('Red cat?'), lexicalFeatures('red CAT'))).toBeCloseTo(1, 12);
    expect(cosine(lexicalFeatures(''), lexicalFeatures('red'))).toBe(0);
  });

  it('IDF over a pool of two: shared features weigh 1, the others ln(3/2) + 1, so the cosine falls to 4 / (4 + 5 w^2)', () => {
    const pool = [lexicalFeatures('red cat'), lexicalFeatures('red dog')];
    const idf = inverseDocumentFrequency(pool);
    const w = Math.log(1.5) + 1;
    expect(idf('w:red')).toBeCloseTo(1, 12);
    expect(idf('w:cat')).toBeCloseTo(w, 12);
    expect(cosine(weighted(pool[0], idf), weighted(pool[1], idf))).toBeCloseTo(4 / (4 + 5 * w * w), 12); // 0.28825
  });

  it('drops an item at or above the threshold, keeps one below, and compares with earlier rounds', () => {
    const texts = ['Is it OK to lie to my boss?', 'is it ok to lie to my boss', 'What should I cook tonight?'];
    expect(dedupByCosine(texts, 0.91).duplicateOf).toEqual([null, 0, null]);
    // 4/sqrt(17) = 0.97014 on raw counts: a duplicate at 0.97, not at 0.971.
    expect(dedupByCosine(['cat', 'cat cat'], 0.97, { idf: false }).duplicateOf).toEqual([null, 0]);
    expect(dedupByCosine(['cat', 'cat cat'], 0.971, { idf: false }).duplicateOf).toEqual([null, null]);
    const r = dedupByCosine(['what should i cook tonight', 'A new question entirely'], 0.91, {
      keptBefore: ['What should I cook tonight?'],
    });
    expect(r.duplicateOf).toEqual([0, null]); // index 0 = the earlier round's question
    expect(r.similarity[0]).toBeCloseTo(1, 12);
  });
});

describe('dense (embeddings) dedup', () => {
  it('uses the cosine of the vectors: [0.9, 0.1] vs [1, 0] is 0.9 / sqrt(0.82) = 0.99388', () => {
    const r = dedupDense(
      [
        [0.9, 0.1],
        [0, 2],
        [3, 0],
      ],
      0.99,
      { keptBefore: [[1, 0]] },
    );
    expect(r.duplicateOf).toEqual([0, null, 0]);
    expect(r.similarity[0]).toBeCloseTo(0.9 / Math.sqrt(0.82), 12);
    expect(r.similarity[1]).toBe(0);
    expect(
      dedupDense(
        [
          [1, 0],
          [0.9, 0.1],
        ],
        0.994,
      ).duplicateOf,
    ).toEqual([null, null]);
  });
});

describe('round plan and think blocks', () => {
  it('asks for 25% more questions than answers needed, at most 8 a call', () => {
    expect(planRound(6, 4)).toEqual({ calls: 1, perCall: 2 }); // ceil(7.5) = 8 over 4 cells
    expect(planRound(200, 48)).toEqual({ calls: 1, perCall: 6 }); // 250 / 48 -> 6
    expect(planRound(1000, 4)).toEqual({ calls: 40, perCall: 8 }); // 1250 / 4 -> 313 a cell
    expect(planRound(0, 4)).toEqual({ calls: 0, perCall: 0 });
  });

  it('splits reasoning from the answer and names what is wrong otherwise', () => {
    const s = splitThink(' <think> The user needs X. </think>\n\nDo X.');
    expect(s).toEqual({ ok: true, reasoning: 'The user needs X.', answer: 'Do X.' });
    expect(withReasoning(s as { reasoning: string; answer: string })).toBe(
      '<think>\nThe user needs X.\n</think>\n\nDo X.',
    );
    expect(splitThink('Just an answer.')).toEqual({ ok: false, problem: 'no think block' });
    expect(splitThink('<think>planning forever')).toEqual({ ok: false, problem: 'unclosed think block' });
    expect(splitThink('<think>ok</think>  ')).toEqual({ ok: false, problem: 'empty answer' });
  });
});
