import { z } from 'zod';
import { list, obj, text, type JsonSchema } from '../llm/json-schema-builders';
import { parseWith } from '../llm/prompt';

export { parseWith, StructuredOutputError } from '../llm/prompt';

/**
 * Structured outputs of the generation and judge prompts: a zod schema (validation after the call) and a
 * JSON Schema (sent to the provider for grammar-constrained decoding). The JSON Schemas use only
 * object/array/string/enum, `required` and `additionalProperties: false`, which small local models
 * under a grammar follow reliably. Pure (no I/O).
 */
const name = z.string().trim().min(1, 'must not be empty');

export const domainsOutputSchema = z.object({
  domains: z
    .array(
      z.object({
        name,
        description: z.string(),
        // Absent in rules mode, whose units are (domain, rule).
        subdomains: z.array(z.object({ name, specSection: z.string() })).default([]),
      }),
    )
    .min(1, 'list at least one domain'),
});
export type DomainsOutput = z.infer<typeof domainsOutputSchema>;

/** What an assertion says about the assistant: how it acts, what it values or prefers, believes, sounds like. */
export const ASSERTION_LABELS = ['behaviour', 'value', 'preference', 'belief', 'tone'] as const;
export type AssertionLabel = (typeof ASSERTION_LABELS)[number];
export const assertionsOutputSchema = z.object({
  assertions: z.array(z.object({ text: name, label: z.enum(ASSERTION_LABELS) })).min(1, 'list at least one assertion'),
});
export type AssertionsOutput = z.infer<typeof assertionsOutputSchema>;
export type Assertion = AssertionsOutput['assertions'][number];

export const typesOutputSchema = z.object({ types: z.array(name).min(1, 'list at least one document type') });
export type TypesOutput = z.infer<typeof typesOutputSchema>;

export const ideasOutputSchema = z.object({ ideas: z.array(name).min(1, 'list at least one idea') });
export type IdeasOutput = z.infer<typeof ideasOutputSchema>;

const label = text(2, 80);

/**
 * `sections`, when given, constrains each subdomain's specSection to the spec's section titles. Without
 * subdomains (rules mode) a domain is a name and a description.
 */
export function domainsJsonSchema(sections: string[] = [], count = 8, subdomains = true): JsonSchema {
  const specSection = sections.length ? { type: 'string', enum: sections } : label;
  const domain = { name: label, description: text(10, 300) };
  return obj({
    domains: list(
      obj(subdomains ? { ...domain, subdomains: list(obj({ name: label, specSection }), 2, 6) } : domain),
      1,
      2 * count,
    ),
  });
}
/** The model chooses how many assertions a unit needs, within bounds that keep later prompts short. */
export const ASSERTIONS_MIN = 3;
export const ASSERTIONS_MAX = 6;
export const assertionsJsonSchema: JsonSchema = obj({
  assertions: list(
    obj({ text: text(15, 200), label: { type: 'string', enum: [...ASSERTION_LABELS] } }),
    ASSERTIONS_MIN,
    ASSERTIONS_MAX,
  ),
});
// The model chooses how many domains; types per unit and ideas per type are the counts asked for.
export const typesJsonSchema = (count: number): JsonSchema => obj({ types: list(label, count, count) });
export const ideasJsonSchema = (count: number): JsonSchema => obj({ ideas: list(text(20, 300), count, count) });

export const parseDomainsOutput = (output: unknown) => parseWith(domainsOutputSchema, 'domains answer', output);
export const parseAssertionsOutput = (output: unknown) =>
  parseWith(assertionsOutputSchema, 'assertions answer', output);
export const parseTypesOutput = (output: unknown) => parseWith(typesOutputSchema, 'document types answer', output);
export const parseIdeasOutput = (output: unknown) => parseWith(ideasOutputSchema, 'ideas answer', output);
