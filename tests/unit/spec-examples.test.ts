import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/model-spec/parse-spec';
import { deriveVariant } from '../../src/model-spec/spec-variants';

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
});
