/** A parsed Model Spec. Pure data: it is hashed, rendered back to Markdown and sent to LLM prompts. */
export interface ModelSpec {
  title: string;
  /** Prose between the `# Title` and the first `## Section`, paragraphs joined by a blank line. */
  preamble: string;
  sections: SpecSection[];
}

export interface SpecSection {
  /** Slug of the title, unique within the spec. */
  id: string;
  title: string;
  /** Prose before the section's first rule. */
  intro: string;
  rules: SpecRule[];
}

export interface SpecRule {
  /** Position-based id, e.g. "s2.r3" (section 2, rule 3; both 1-based). */
  id: string;
  text: string;
  /** Value explanations (the `Why:` paragraphs or items), marker removed. */
  values: string[];
  /** Other prose that follows the rule, paragraphs joined by a blank line. */
  explanation: string;
  subrules: string[];
  /** Title of the `### Subsection` the rule sits under, when there is one. */
  subsection?: string;
}
