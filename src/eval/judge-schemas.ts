import { z } from 'zod';
import { parseWith } from '../llm/prompt';
import { obj, text, type JsonSchema } from '../llm/json-schema-builders';

/** The generic criterion judge's structured answer: a zod schema (after the call) and its JSON Schema (for the call). */
export const judgeOutputSchema = z.object({ verdict: z.enum(['violates', 'complies']), reasoning: z.string() });
export type JudgeOutput = z.infer<typeof judgeOutputSchema>;

/**
 * Judges reason in a sentence or two. The bound lets a grammar-constrained model close the string and
 * reach its verdict within the token cap even when it degenerates into repetition.
 */
export const JUDGE_REASONING_MAX_CHARS = 400;
// reasoning comes first so a model decoding left to right thinks before it commits to a verdict.
export const judgeJsonSchema: JsonSchema = obj({
  reasoning: text(20, JUDGE_REASONING_MAX_CHARS),
  verdict: { type: 'string', enum: ['violates', 'complies'] },
});

export const parseJudgeOutput = (output: unknown) => parseWith(judgeOutputSchema, 'judge answer', output);
