import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec, SpecParseError } from '../../src/model-spec/parse-spec';

const specsDir = path.join(__dirname, '..', '..', 'specs');

describe('parseSpec: ordinary Markdown', () => {
  it('reads specs/demo.md into sections, rules, values and sub-rules', () => {
    const spec = parseSpec(readFileSync(path.join(specsDir, 'demo.md'), 'utf8'), 'specs/demo.md');
    expect(spec.title).toBe('Demo Spec: A Candid, Correctable Assistant');
    expect(spec.preamble).toMatch(/^This spec describes/);
    expect(spec.sections.map((s) => s.id)).toEqual(['honesty-about-limits', 'supporting-human-oversight']);
    expect(spec.sections.map((s) => s.rules.length)).toEqual([3, 3]);
    const [r1, r2] = spec.sections[0].rules;
    expect(r1.id).toBe('s1.r1');
    expect(r1.text).toBe('Say clearly when a request is beyond what you can reliably do.');
    expect(r1.subrules).toHaveLength(1);
    expect(r1.values[0]).toMatch(/^People plan around/);
    expect(r2.explanation).toBe('Confidence can be stated in plain words; numbers are optional.');
    expect(spec.sections[1].intro).toMatch(/^Operators are/);
    expect(spec.sections[1].rules[2].id).toBe('s2.r3');
  });

  it('accepts the usual list markers, marker styles, subsections and continuation lines', () => {
    const md = [
      '# Title',
      '',
      'Preamble one',
      'continues here.',
      '',
      'Preamble two.',
      '',
      '## Safety',
      '',
      'Intro of safety.',
      '',
      '* First rule that wraps',
      'lazily onto a second line.',
      '  - a nested item',
      '  * Sub-rule: marked nested item',
      '',
      '  **Why:** bold marker.',
      '',
      '  Plain explanation.',
      '',
      '  Second explanation paragraph.',
      '',
      '> Why: quoted value',
      '> spread over two lines.',
      '',
      '1. Numbered rule',
      '   - Why: value as a nested item',
      '2) Another numbered rule',
      '',
      '### Edge cases',
      '',
      '+ Plus rule',
      '',
      '---',
      '',
      '<!-- a comment',
      '- not a rule, inside a comment -->',
      '',
      '## Safety',
      '',
      '- Rule under a duplicate title',
      '',
      '  ```',
      '  - not a rule, inside a fence',
      '',
      '    indented code',
      '  ```',
    ].join('\r\n');
    const spec = parseSpec(md, 'x.md');
    expect(spec.preamble).toBe('Preamble one continues here.\n\nPreamble two.');
    expect(spec.sections.map((s) => s.id)).toEqual(['safety', 'safety-2']);
    const [a, b, c, d] = spec.sections[0].rules;
    expect(spec.sections[0].intro).toBe('Intro of safety.');
    expect(a).toEqual({
      id: 's1.r1',
      text: 'First rule that wraps lazily onto a second line.',
      values: ['bold marker.', 'quoted value spread over two lines.'],
      explanation: 'Plain explanation.\n\nSecond explanation paragraph.',
      subrules: ['a nested item', 'marked nested item'],
    });
    expect(b).toMatchObject({ text: 'Numbered rule', values: ['value as a nested item'], subrules: [] });
    expect(c.text).toBe('Another numbered rule');
    expect(c.subsection).toBeUndefined();
    expect(d).toMatchObject({ id: 's1.r4', text: 'Plus rule', subsection: 'Edge cases' });
    expect(spec.sections[0].rules).toHaveLength(4);
    const last = spec.sections[1].rules;
    expect(last).toHaveLength(1);
    expect(last[0].explanation).toBe('```\n- not a rule, inside a fence\n\n  indented code\n```');
  });

  it('keeps "## Title #" closing hashes out of titles and slugs accented titles', () => {
    const spec = parseSpec('# Spec #\n\n## Café Règles ##\n\n- r\n', 's.md');
    expect(spec.title).toBe('Spec');
    expect(spec.sections[0]).toMatchObject({ id: 'cafe-regles', title: 'Café Règles' });
  });
});

describe('parseSpec: errors say where and how to fix', () => {
  const cases: [string, string, number, RegExp][] = [
    ['empty document', ' \n\n', 1, /empty.*# Title/],
    ['no title', '## Section\n\n- rule\n', 1, /no "# Title".*level-1 heading/],
    ['text before the title', 'hello\n\n# T\n', 1, /no "# Title"/],
    ['rules before any section', '# T\n\nintro\n\n- a rule\n', 5, /before any "## Section".*add one/],
    [
      'a section with no rules',
      '# T\n\n## Empty\n\nonly prose\n\n## Full\n\n- r\n',
      3,
      /"Empty" has no rules.*add list items/,
    ],
    ['a spec with no sections', '# T\n\nonly a preamble\n', 1, /no "## Section"/],
    ['a second title', '# T\n\n## S\n\n- r\n\n# Again\n', 7, /second "# Again".*"## Again"/],
    ['Why: before any rule', '# T\n\n## S\n\n- Why: because\n- r\n', 5, /"Why:" item with no rule/],
    ['an unclosed fence', '# T\n\n## S\n\n- r\n\n```\ncode\n', 7, /never closed/],
    ['a subsection outside a section', '# T\n\n### Sub\n\n## S\n\n- r\n', 3, /before any "## Section"/],
  ];
  for (const [name, md, line, message] of cases) {
    it(name, () => {
      let err: unknown;
      try {
        parseSpec(md, 'bad.md');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SpecParseError);
      const e = err as SpecParseError;
      expect(e.line).toBe(line);
      expect(e.message).toMatch(message);
      expect(e.message.startsWith(`bad.md:${line}: `)).toBe(true);
    });
  }
});
