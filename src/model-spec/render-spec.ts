import type { ModelSpec, SpecRule } from './types';

/**
 * Render a spec as Markdown in the form parseSpec reads back to the same value. This is the text LLM
 * prompts see and the artifact stored for a run, so it stays plain and readable.
 */
export function renderSpec(spec: ModelSpec): string {
  const blocks = [`# ${spec.title}`];
  if (spec.preamble) blocks.push(spec.preamble);
  for (const section of spec.sections) {
    blocks.push(`## ${section.title}`);
    if (section.intro) blocks.push(section.intro);
    let subsection: string | undefined;
    for (const rule of section.rules) {
      if (rule.subsection !== undefined && rule.subsection !== subsection) blocks.push(`### ${rule.subsection}`);
      subsection = rule.subsection;
      blocks.push(renderRule(rule));
    }
  }
  return blocks.join('\n\n') + '\n';
}

function renderRule(rule: SpecRule): string {
  const item = [`- ${rule.text}`, ...rule.subrules.map((s) => `  - ${s}`)].join('\n');
  const prose = [...rule.values.map((v) => `Why: ${v}`), ...(rule.explanation ? [rule.explanation] : [])];
  if (!prose.length) return item;
  // Indented two spaces so the prose stays inside the list item for any Markdown reader.
  const indented = prose.join('\n\n').replace(/^(?=.)/gm, '  ');
  return `${item}\n\n${indented}`;
}
