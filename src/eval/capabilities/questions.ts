import { z } from 'zod';
import { JsonlError, parseJsonl } from '../eval-set';

/**
 * A multiple-choice question file (eval.capabilities[].questions): the spec-knowledge check's questions
 * whose answers the spec settles, or any small local capability set. Run by the trainer's built-in Inspect
 * task msm/multiple_choice (trainer/msm_trainer/inspect_tasks.py). Pure.
 */
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export const questionLineSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'use letters, digits, ".", "_" or "-"'),
    question: z.string().refine((s) => s.trim().length > 0, 'question is empty'),
    choices: z
      .array(z.string().refine((s) => s.trim().length > 0, 'a choice is empty'))
      .min(2, 'give at least two choices')
      .max(LETTERS.length),
    answer: z.string().regex(/^[A-Z]$/, 'answer is the letter of the right choice, e.g. "B"'),
    /** The spec rule the question is about (optional): the report can then say which rules the model knows. */
    rule: z.string().min(1).optional(),
  })
  .strict()
  .refine((q) => LETTERS.indexOf(q.answer) < q.choices.length, {
    message: 'answer names a choice that is not there (A is the first choice)',
    path: ['answer'],
  });
export type QuestionLine = z.infer<typeof questionLineSchema>;

/** A question as the trainer's manifest carries it (inline: the file is small and frozen with the run). */
export interface ChoiceSample {
  id: string;
  question: string;
  choices: string[];
  target: string;
}

/** Valid lines with unique ids, or every problem at once (JsonlError). */
export function parseQuestions(text: string, source: string): QuestionLine[] {
  const lines = parseJsonl(text, questionLineSchema, source);
  const seen = new Set<string>();
  const repeats = lines.filter((l) => seen.has(l.id) || (seen.add(l.id), false)).map((l) => l.id);
  if (repeats.length)
    throw new JsonlError([
      `${source}: question ids repeat (${[...new Set(repeats)].join(', ')}); give each its own id`,
    ]);
  if (!lines.length) throw new JsonlError([`${source}: no questions; write one JSON object per line`]);
  return lines;
}

export const choiceSample = (q: QuestionLine): ChoiceSample => ({
  id: q.id,
  question: q.question,
  choices: q.choices,
  target: q.answer,
});
