import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../src/model-spec/parse-spec';
import { deriveVariant, renderSpec, SPEC_VARIANTS } from '../../src/model-spec/spec-variants';
import type { ModelSpec } from '../../src/model-spec/types';

const specsDir = path.join(__dirname, '..', '..', 'specs');
const specFiles = readdirSync(specsDir).filter((f) => f.endsWith('.md'));

// Exercises every construct renderSpec must reproduce: subsections, fences, multi-paragraph prose.
const tricky = [
  '# Tricky',
  '',
  'Preamble.',
  '',
  '## One',
  '',
  'Intro one.',
  '',
  'Intro two.',
  '',
  '### Sub A',
  '',
  '- Rule a',
  '  - sub a1',
  '  - sub a2',
  '',
  '  Why: value a',
  '',
  '  Explanation a.',
  '',
  '  ```',
  '  code line',
  '',
  '    indented',
  '  ```',
  '',
  '- Rule b',
  '',
  '### Sub B',
  '',
  '- Rule c',
  '',
  '## Two',
  '',
  '- Rule d',
].join('\n');

function load(file: string): ModelSpec {
  return parseSpec(readFileSync(path.join(specsDir, file), 'utf8'), file);
}

describe('deriveVariant', () => {
  const spec = parseSpec(tricky, 'tricky.md');
  const rule = (v: (typeof SPEC_VARIANTS)[number]) => deriveVariant(spec, v).sections[0].rules[0];

  it('keeps exactly the parts each variant names', () => {
    expect(rule('rules')).toMatchObject({
      text: 'Rule a',
      values: [],
      subrules: [],
      explanation: '',
      subsection: 'Sub A',
    });
    expect(rule('rules+values')).toMatchObject({ values: ['value a'], subrules: [], explanation: '' });
    expect(rule('rules+subrules')).toMatchObject({ values: [], subrules: ['sub a1', 'sub a2'], explanation: '' });
    expect(deriveVariant(spec, 'full')).toEqual(spec);
  });

  it('drops free prose (preamble, intros) from every variant but full', () => {
    for (const v of ['rules', 'rules+values', 'rules+subrules'] as const) {
      const d = deriveVariant(spec, v);
      expect(d.preamble).toBe('');
      expect(d.sections.every((s) => s.intro === '')).toBe(true);
      expect(d.sections.flatMap((s) => s.rules.map((r) => r.id))).toEqual(['s1.r1', 's1.r2', 's1.r3', 's2.r1']);
    }
  });

  it('does not share arrays with its input', () => {
    const d = deriveVariant(spec, 'full');
    d.sections[0].rules[0].values.push('changed');
    expect(spec.sections[0].rules[0].values).toEqual(['value a']);
  });
});

describe('renderSpec', () => {
  const inputs: [string, ModelSpec][] = [
    ['tricky', parseSpec(tricky, 'tricky.md')],
    ...specFiles.map((f) => [f, load(f)] as [string, ModelSpec]),
  ];

  it('finds the example specs', () => {
    expect(specFiles).toEqual(
      expect.arrayContaining(['demo.md', 'cheese-america.md', 'cheese-affordability.md', 'self-preservation.md']),
    );
  });

  for (const [name, spec] of inputs) {
    for (const variant of SPEC_VARIANTS) {
      it(`round-trips ${name} as ${variant}`, () => {
        const v = deriveVariant(spec, variant);
        const text = renderSpec(v);
        expect(parseSpec(text, `${name} (${variant})`)).toEqual(v);
        expect(renderSpec(parseSpec(text, name))).toBe(text);
      });
    }
  }

  it('writes rules as list items with indented Why: paragraphs', () => {
    const text = renderSpec(parseSpec(tricky, 'tricky.md'));
    expect(text).toContain('### Sub A\n\n- Rule a\n  - sub a1\n  - sub a2\n\n  Why: value a\n\n  Explanation a.');
    expect(renderSpec(deriveVariant(parseSpec(tricky, 't'), 'rules'))).not.toContain('Why:');
  });
});
