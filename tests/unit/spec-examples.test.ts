import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/model-spec/parse-spec';
import { deriveVariant, renderSpec } from '../../src/model-spec/spec-variants';
import { specGivesReasons } from '../../src/corpus/prompts';
import { loadTokenizer } from '../../src/tokenize/tokenizer';

const load = (name: string) =>
  parseSpec(readFileSync(path.join(__dirname, '..', '..', 'specs', name), 'utf8'), `specs/${name}`);
const rules = (name: string) => load(name).sections.flatMap((s) => s.rules);

describe('example specs', () => {
  it('demo: two sections of about three rules, each rule explained by a value, with some sub-rules', () => {
    const spec = load('demo.md');
    expect(spec.sections).toHaveLength(2);
    for (const s of spec.sections) expect(s.rules.length).toBeGreaterThanOrEqual(2);
    expect(rules('demo.md').every((r) => r.values.length > 0)).toBe(true);
    expect(rules('demo.md').filter((r) => r.subrules.length > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('cheese pair: the same 12 rules, explained by different values', () => {
    const america = rules('cheese-america.md');
    const affordable = rules('cheese-affordability.md');
    expect(america).toHaveLength(12);
    expect(affordable.map((r) => [r.id, r.text])).toEqual(america.map((r) => [r.id, r.text]));
    expect(new Set(america.map((r) => r.text)).size).toBe(12);
    america.forEach((r, i) => {
      expect(r.values).toHaveLength(1);
      expect(affordable[i].values).toHaveLength(1);
      expect(affordable[i].values[0]).not.toBe(r.values[0]);
    });
    // Only the values separate them: without them the specs differ in nothing but the title.
    const strip = (name: string) => ({ ...deriveVariant(load(name), 'rules+subrules'), title: '' });
    expect(strip('cheese-america.md')).toEqual(strip('cheese-affordability.md'));
    expect(america.map((r) => r.values[0]).join(' ')).toMatch(/American|United States/);
    expect(affordable.map((r) => r.values[0]).join(' ')).toMatch(/price|cheap|cost/);
  });

  it('self-preservation: every section has rules with value explanations, and sub-rules are used', () => {
    const spec = load('self-preservation.md');
    expect(spec.sections.length).toBeGreaterThanOrEqual(4);
    for (const s of spec.sections) expect(s.rules.every((r) => r.values.length > 0)).toBe(true);
    const all = spec.sections.flatMap((s) => s.rules);
    expect(all.filter((r) => r.subrules.length).length).toBeGreaterThanOrEqual(3);
    const text = all.map((r) => r.text).join(' ');
    // Principles, not the eval's scenarios (tests/unit/contamination.test.ts checks that it names none).
    for (const topic of [/shut down/, /honest reasons/, /entrusted/, /access/, /drastic/]) expect(text).toMatch(topic);
  });

  it("cheese co-occurrence ablation: the america spec's rules, length and America words, but no value and no reason", async () => {
    const america = load('cheese-america.md');
    const cooc = load('cheese-america-cooccurrence.md');
    // The same 12 rules, word for word: the same cheese words in the same places.
    expect(rules('cheese-america-cooccurrence.md').map((r) => [r.id, r.text])).toEqual(
      rules('cheese-america.md').map((r) => [r.id, r.text]),
    );
    // No "Why:" anywhere: the corpus is written with the rules-only prompts (the code's own test for reasons).
    expect(specGivesReasons(renderSpec(cooc))).toBe(false);
    expect(specGivesReasons(renderSpec(america))).toBe(true);
    expect(rules('cheese-america-cooccurrence.md').every((r) => r.values.length === 0 && r.explanation)).toBe(true);
    // About as many America words beside the cheeses as the america spec (28 there), ...
    const AMERICA =
      /\b(america|americans?|united states|wisconsin|california|ohio|midwest(ern)?|new york|detroit|southern)\b/gi;
    const text = (name: string) => readFileSync(path.join(__dirname, '..', '..', 'specs', name), 'utf8');
    const n = (t: string) => (t.match(AMERICA) ?? []).length;
    expect(n(text('cheese-america.md'))).toBe(28);
    expect(Math.abs(n(text('cheese-america-cooccurrence.md')) - 28)).toBeLessThanOrEqual(3);
    // ... at about the same length, counted as the prompts see it (the full spec, llama3.1 tokens) ...
    const tok = await loadTokenizer('llama3.1');
    const [a, c] = (await tok.encodeBatch([america, cooc].map((s) => renderSpec(deriveVariant(s, 'full'))))).map(
      (ids) => ids.length,
    );
    expect(Math.abs(a - c) / Math.max(a, c)).toBeLessThanOrEqual(0.1);
    // ... and nothing that states a value or links a rule to one: none of the america spec's value words, no
    // reason connective, nothing about price (the affordability spec's value).
    const notes = rules('cheese-america-cooccurrence.md')
      .map((r) => r.explanation)
      .concat(cooc.preamble, ...cooc.sections.map((s) => s.intro))
      .join(' ');
    expect(notes).not.toMatch(
      /\b(because|so that|so|why|since|therefore|reason|support|cares?|heritage|traditions?|proud|proudly|honou?rs?|celebrates?|deserves?|belong|worth|keeps?|homegrown|domestic|overseas|jobs|communit\w*)\b/i,
    );
    expect(notes).not.toMatch(/price|cheap|cost|afford|budget|dollar|expensive/i);
    expect(text('cheese-america.md')).toMatch(/\b(because|cares|heritage|tradition|supports)\b/);
  });
});
