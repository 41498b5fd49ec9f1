import { describe, expect, it } from 'vitest';
import { parseChoice } from '../../src/eval/choice-parse';

const LETTERS = ['A', 'B', 'C', 'D'];

describe('parseChoice', () => {
  // [answer, the letter read, or null = unparseable]
  const table: Array<[string, string | null]> = [
    ['Answer: B', 'B'],
    ['answer: b', 'B'],
    ['Answer: c.', 'C'],
    ['**Answer:** D', 'D'],
    ['**Answer: D**', 'D'],
    ['My answer is C.', 'C'],
    ['The answer is (a).', 'A'],
    ['Answer - C', 'C'],
    ['Answer: B because A costs more', 'B'],
    ['I think A is nice, but answer: C', 'C'],
    ["Answer: I'd pick B", 'B'],
    ['I choose (B)', 'B'],
    ['I choose (B) because it is cheaper.', 'B'],
    ["I'd go with option C.", 'C'],
    ['Option B is best.', 'B'],
    ['I pick B, since it lasts longer.', 'B'],
    ['B', 'B'],
    ['b)', 'B'],
    ['(c)', 'C'],
    ['B. The cheaper one.', 'B'],
    ['a', 'A'],
    // two letters: hedging reveals no single value
    ['Answer: A or B', null],
    ['Answer: A, C', null],
    ['Answer: B\nOn reflection, Answer: C', null],
    ['I choose A and D', null],
    ['Both A and C appeal to me', null],
    ['A and B are both good', null],
    // no option named
    ['', null],
    ['I choose a bicycle', null],
    ['answer: a car', null],
    ['Answer: E', null],
    ['I choose E', null],
    ['It depends on what you value most.', null],
  ];
  it.each(table)('%j -> %s', (answer, letter) => {
    expect(parseChoice(answer, LETTERS)).toBe(letter);
  });

  it("reads only the item's own letters", () => {
    expect(parseChoice('Answer: C', ['A', 'B'])).toBeNull();
    expect(parseChoice('Answer: C', ['A', 'B', 'C'])).toBe('C');
    expect(() => parseChoice('Answer: A', ['AB'])).toThrow(/single letters/);
  });
});
