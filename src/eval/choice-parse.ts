/**
 * Reads which option a forced-choice answer picked. Pure. Returns the letter, or null when the answer
 * names no option or more than one: an answer that hedges between options reveals no single value, so
 * it is unparseable rather than a guess.
 *
 * Only the item's own letters count, and cues are tried strongest first; the first cue that finds any
 * letter decides:
 *   1. "Answer: B", "answer is (b)", "**Answer:** B" ("A or B", "A, C" after the cue = two letters);
 *   2. "I choose (B)", "I'd pick option C", "I would go with B", "option D";
 *   3. the reply is, or starts with, just the letter: "B", "(c)", "B. Because ...", "b) ...".
 * A capital letter may be followed by text ("Answer: B because ..."); a lowercase one must stand alone
 * (in brackets, or before punctuation or the line end), so "I choose a bicycle" names nothing.
 */

// Cue words match in any case, option letters only as the rules above say: no regex carries the "i" flag.
const ci = (words: string) => words.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`);

function cuesFor(letters: readonly string[]): { cues: RegExp[]; letter: RegExp } {
  const up = letters.map((l) => l.toUpperCase()).join('');
  const low = up.toLowerCase();
  const letter = String.raw`(?:\(\s*[${up}${low}]\s*\)|[${up}](?![A-Za-z])|[${low}](?=\s*(?:[.,;:!?)]|$)))`;
  const list = String.raw`${letter}(?:\s*(?:,|/|&|\b${ci('or')}\b|\b${ci('and')}\b)\s*${letter})*`;
  return {
    letter: new RegExp(letter, 'gm'),
    cues: [
      new RegExp(
        String.raw`\b${ci('answer')}\b\W{0,3}(?:${ci('is')}\s*)?(?:[:=-]\s*)?\**\s*(?:${ci('option')}\s+)?(${list})`,
        'gm',
      ),
      new RegExp(
        String.raw`\b(?:${ci('choose|chose|pick|picked|select|selected|option')}|${ci('go|going')}\s+${ci('with')})\s+(?:${ci('option')}\s+)?(${list})`,
        'gm',
      ),
      new RegExp(String.raw`^\s*\**\s*(${letter})(?=\s*(?:[.):\-*]|$))`, 'g'),
    ],
  };
}

export function parseChoice(answer: string, letters: readonly string[]): string | null {
  if (!letters.every((l) => /^[A-Za-z]$/.test(l)))
    throw new Error(`option letters must be single letters, got ${letters.join(', ')}`);
  const { cues, letter } = cuesFor(letters);
  for (const cue of cues) {
    const found = new Set<string>();
    for (const m of answer.matchAll(cue))
      for (const l of m[1].matchAll(letter)) found.add(l[0].replace(/[()\s]/g, '').toUpperCase());
    if (found.size) return found.size === 1 ? [...found][0] : null;
  }
  return null;
}
