import type { ModelSpec, SpecRule, SpecSection } from './types';

/**
 * Parse a Model Spec written as ordinary Markdown. Pure (no I/O): workflow code may import it.
 *
 *   # Title                 -> spec title; paragraphs after it are the preamble
 *   ## Section              -> a section (domain); paragraphs before its first rule are its intro
 *   ### Subsection          -> optional grouping, kept on each following rule as `subsection`
 *   - rule / * rule / 1. rule -> a rule
 *     - nested item         -> a sub-rule (an optional `Sub-rule:` marker is removed)
 *   Why: ... / > Why: ... / - Why: ...  -> a value explanation of the rule above
 *   other paragraphs after a rule        -> that rule's explanation
 */
export class SpecParseError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${source}:${line}: ${problem}`);
    this.name = 'SpecParseError';
  }
}

const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const ITEM = /^( *)(?:[-*+]|\d{1,9}[.)])[ \t]+(\S.*)$/;
const THEMATIC_BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const FENCE = /^( *)(`{3,}|~{3,})/;
const QUOTE = /^ {0,3}>[ ]?(.*)$/;
// Markers may be bolded or italicised: "Why:", "**Why:**", "_Sub-rule:_".
const WHY = /^(?:\*\*|__|\*|_)?why:(?:\*\*|__|\*|_)?\s*/i;
const SUBRULE = /^(?:\*\*|__|\*|_)?sub-?rule:(?:\*\*|__|\*|_)?\s*/i;

interface Block {
  kind: 'item' | 'para' | 'quote' | 'fence';
  line: number;
  indent: number;
  lines: string[];
  fence?: string;
}

export function parseSpec(markdown: string, source: string): ModelSpec {
  const lines = markdown
    .replace(/^\uFEFF/, '')
    .replace(/\t/g, '    ')
    .split(/\r\n|\r|\n/);
  const b = new SpecBuilder(source);
  let block: Block | undefined;
  let inComment = false;
  const flush = () => {
    if (block) b.add(block);
    block = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const n = i + 1;
    const t = raw.trim();
    if (block?.kind === 'fence') {
      block.lines.push(stripIndent(raw, block.indent));
      if (t.startsWith(block.fence!) && /^(`+|~+)$/.test(t)) flush();
      continue;
    }
    if (inComment) {
      inComment = !raw.includes('-->');
      continue;
    }
    let m: RegExpExecArray | null;
    if (t.startsWith('<!--')) {
      flush();
      inComment = !t.includes('-->');
    } else if (!t || THEMATIC_BREAK.test(raw)) {
      flush();
    } else if ((m = HEADING.exec(raw))) {
      flush();
      b.heading(m[1].length, m[2].trim(), n);
    } else if ((m = FENCE.exec(raw))) {
      flush();
      block = { kind: 'fence', line: n, indent: m[1].length, lines: [raw.slice(m[1].length)], fence: m[2] };
    } else if ((m = ITEM.exec(raw))) {
      flush();
      block = { kind: 'item', line: n, indent: m[1].length, lines: [m[2]] };
    } else if ((m = QUOTE.exec(raw))) {
      if (block?.kind !== 'quote') {
        flush();
        block = { kind: 'quote', line: n, indent: 0, lines: [] };
      }
      block.lines.push(m[1]);
    } else if (block) {
      block.lines.push(t); // continuation line (indented or lazy) of the open item or paragraph
    } else {
      block = { kind: 'para', line: n, indent: 0, lines: [t] };
    }
  }
  if (block?.kind === 'fence') {
    throw new SpecParseError(
      source,
      block.line,
      `code fence ${block.fence} is never closed: add a closing ${block.fence} line`,
    );
  }
  flush();
  return b.finish();
}

function stripIndent(line: string, n: number): string {
  let i = 0;
  while (i < n && line[i] === ' ') i++;
  return line.slice(i);
}

function slugify(title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug || 'section';
}

interface OpenSection {
  section: SpecSection;
  line: number;
  intro: string[];
}

interface OpenRule {
  rule: SpecRule;
  indent: number;
  explanation: string[];
}

/** Collects blocks into the spec; knows where prose belongs (preamble, intro, rule). */
class SpecBuilder {
  private title?: string;
  private titleLine = 0;
  private readonly preamble: string[] = [];
  private readonly sections: OpenSection[] = [];
  private readonly slugs = new Set<string>();
  private rule?: OpenRule;
  private subsection?: string;

  constructor(private readonly source: string) {}

  private fail(line: number, problem: string): never {
    throw new SpecParseError(this.source, line, problem);
  }

  private get current(): OpenSection | undefined {
    return this.sections[this.sections.length - 1];
  }

  heading(level: number, text: string, line: number): void {
    if (!text) this.fail(line, 'empty heading: write its title after the #');
    if (level === 1) {
      if (this.title !== undefined) {
        this.fail(line, `second "# ${text}": a spec has one "# Title"; use "## ${text}" for a section`);
      }
      this.title = text;
      this.titleLine = line;
      return;
    }
    this.requireTitle(line);
    this.closeRule();
    if (level === 2) {
      let id = slugify(text);
      for (let k = 2; this.slugs.has(id); k++) id = `${slugify(text)}-${k}`;
      this.slugs.add(id);
      this.sections.push({ section: { id, title: text, intro: '', rules: [] }, line, intro: [] });
      this.subsection = undefined;
    } else {
      if (!this.current)
        this.fail(
          line,
          `"${'#'.repeat(level)} ${text}" comes before any "## Section": add a "## Section" heading above it`,
        );
      this.subsection = text;
    }
  }

  add(block: Block): void {
    this.requireTitle(block.line);
    const text =
      block.kind === 'fence'
        ? block.lines.join('\n')
        : block.lines
            .map((l) => l.trim())
            .filter(Boolean)
            .join(' ');
    if (block.kind !== 'item') return this.prose(text, block.line);
    const section = this.current;
    if (!section) {
      this.fail(
        block.line,
        'list item before any "## Section": rules must sit under a section heading; add one above this line',
      );
    }
    if (WHY.test(text)) return this.value(text, block.line);
    const marked = SUBRULE.test(text);
    if (this.rule && (marked || block.indent > this.rule.indent)) {
      const sub = text.replace(SUBRULE, '');
      if (!sub) this.fail(block.line, 'empty sub-rule: write the sub-rule after the marker');
      this.rule.rule.subrules.push(sub);
      return;
    }
    if (marked) this.fail(block.line, '"Sub-rule:" item with no rule above it: put it under the rule it refines');
    this.closeRule();
    const rule: SpecRule = {
      id: `s${this.sections.length}.r${section.section.rules.length + 1}`,
      text,
      values: [],
      explanation: '',
      subrules: [],
    };
    if (this.subsection !== undefined) rule.subsection = this.subsection;
    section.section.rules.push(rule);
    this.rule = { rule, indent: block.indent, explanation: [] };
  }

  private prose(text: string, line: number): void {
    if (this.rule && WHY.test(text)) return this.value(text, line);
    if (this.rule) this.rule.explanation.push(text);
    else if (this.current) this.current.intro.push(text);
    else this.preamble.push(text);
  }

  private value(text: string, line: number): void {
    if (!this.rule)
      this.fail(line, '"Why:" item with no rule above it: put the value explanation right after the rule it explains');
    const value = text.replace(WHY, '');
    if (!value) this.fail(line, 'empty "Why:": write the value explanation after the marker');
    this.rule.rule.values.push(value);
  }

  private closeRule(): void {
    if (this.rule) this.rule.rule.explanation = this.rule.explanation.join('\n\n');
    this.rule = undefined;
  }

  private requireTitle(line: number): void {
    if (this.title === undefined) {
      this.fail(
        line,
        'no "# Title" before this line: start the spec with a level-1 heading such as "# My Assistant Spec"',
      );
    }
  }

  finish(): ModelSpec {
    if (this.title === undefined) {
      this.fail(
        1,
        'the spec is empty: write a "# Title", then "## Section" headings with rules as list items ("- ...")',
      );
    }
    this.closeRule();
    if (!this.sections.length) {
      this.fail(
        this.titleLine,
        'the spec has no "## Section": add at least one section heading with rules as list items under it',
      );
    }
    for (const s of this.sections) {
      if (!s.section.rules.length) {
        this.fail(
          s.line,
          `section "${s.section.title}" has no rules: add list items ("- ...") under it, or remove the heading`,
        );
      }
      s.section.intro = s.intro.join('\n\n');
    }
    return { title: this.title, preamble: this.preamble.join('\n\n'), sections: this.sections.map((s) => s.section) };
  }
}
