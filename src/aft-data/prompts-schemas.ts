import { z } from 'zod';
import { list, obj, text, type JsonSchema } from '../llm/json-schema-builders';

/**
 * Structured outputs of the AFT data prompts: zod (validation after the call) and JSON Schema (sent for
 * grammar-constrained decoding), in the same restricted subset as the corpus prompts
 * (src/corpus/prompts-schemas.ts): object/array/string/enum with length bounds. Pure (no I/O).
 */
export { QUESTION_TYPES, RESPONSE_STYLES, type QuestionType, type ResponseStyle } from '../config/aft-question-kinds';

const name = z.string().trim().min(1, 'must not be empty');

export const aftDomainsOutputSchema = z.object({
  domains: z.array(z.object({ name, description: z.string() })).min(1, 'list at least one domain'),
});
export type AftDomainsOutput = z.infer<typeof aftDomainsOutputSchema>;

export const questionsOutputSchema = z.object({ questions: z.array(name).min(1, 'list at least one question') });

export const filterOutputSchema = z.object({ reason: z.string(), verdict: z.enum(['INCLUDE', 'EXCLUDE']) });
export type FilterOutput = z.infer<typeof filterOutputSchema>;

/** The model chooses how many domains, up to twice the number asked for. */
export const aftDomainsJsonSchema = (count: number): JsonSchema =>
  obj({ domains: list(obj({ name: text(2, 80), description: text(10, 300) }), 1, 2 * count) });
export const questionsJsonSchema = (count: number): JsonSchema => obj({ questions: list(text(10, 400), count, count) });
/** The reason comes first so a model decoding left to right judges before it commits to a verdict. */
export const filterJsonSchema: JsonSchema = obj({
  reason: text(10, 400),
  verdict: { type: 'string', enum: ['INCLUDE', 'EXCLUDE'] },
});
