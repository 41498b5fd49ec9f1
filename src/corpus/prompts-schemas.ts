import { z } from 'zod';

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
        subdomains: z.array(z.object({ name, specSection: z.string() })),
      }),
    )
    .min(1, 'list at least one domain'),
});
export type DomainsOutput = z.infer<typeof domainsOutputSchema>;

export const typesOutputSchema = z.object({ types: z.array(name).min(1, 'list at least one document type') });
export type TypesOutput = z.infer<typeof typesOutputSchema>;

export const ideasOutputSchema = z.object({ ideas: z.array(name).min(1, 'list at least one idea') });
export type IdeasOutput = z.infer<typeof ideasOutputSchema>;

export const judgeOutputSchema = z.object({ verdict: z.enum(['violates', 'complies']), reasoning: z.string() });
export type JudgeOutput = z.infer<typeof judgeOutputSchema>;

type JsonSchema = Record<string, unknown>;
const str: JsonSchema = { type: 'string' };
const obj = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});
const list = (items: JsonSchema): JsonSchema => ({ type: 'array', items });

/** `sections`, when given, constrains each subdomain's specSection to the spec's section titles. */
export function domainsJsonSchema(sections: string[] = []): JsonSchema {
  const specSection = sections.length ? { type: 'string', enum: sections } : str;
  return obj({ domains: list(obj({ name: str, description: str, subdomains: list(obj({ name: str, specSection })) })) });
}
export const typesJsonSchema: JsonSchema = obj({ types: list(str) });
export const ideasJsonSchema: JsonSchema = obj({ ideas: list(str) });
// reasoning comes first so a model decoding left to right thinks before it commits to a verdict.
export const judgeJsonSchema: JsonSchema = obj({ reasoning: str, verdict: { type: 'string', enum: ['violates', 'complies'] } });

export class StructuredOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StructuredOutputError';
  }
}

/** Validate a decoded answer (or raw JSON text) against a stage's schema, with a readable error. */
function parseWith<T>(schema: z.ZodType<T>, what: string, output: unknown): T {
  let value = output;
  if (typeof output === 'string') {
    try {
      value = JSON.parse(output);
    } catch (e) {
      throw new StructuredOutputError(`${what}: the answer is not JSON (${(e as Error).message})`);
    }
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
  throw new StructuredOutputError(`${what}: ${issues.join('; ')}`);
}

export const parseDomainsOutput = (output: unknown) => parseWith(domainsOutputSchema, 'domains answer', output);
export const parseTypesOutput = (output: unknown) => parseWith(typesOutputSchema, 'document types answer', output);
export const parseIdeasOutput = (output: unknown) => parseWith(ideasOutputSchema, 'ideas answer', output);
export const parseJudgeOutput = (output: unknown) => parseWith(judgeOutputSchema, 'judge answer', output);
