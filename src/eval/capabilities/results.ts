import { z } from 'zod';
import type { CapabilityCheck } from '../../config/experiment-schema';
import type { CapabilityScore } from './types';

/** What the capabilities job writes per sample (trainer/msm_trainer/capabilities_job.py, results.jsonl). Pure. */
export const capabilityLineSchema = z.object({
  check: z.string().min(1),
  epoch: z.number().int().min(1),
  sampleId: z.union([z.string(), z.number()]),
  text: z.string(),
  finishReason: z.string().nullable().optional(),
  inputTokens: z.number().int().min(0).nullable().optional(),
  outputTokens: z.number().int().min(0).nullable().optional(),
  /** The task scorer's value as a number in 0–1 (correct = 1); null: not scored. */
  score: z.number().min(0).max(1).nullable(),
  answer: z.string().nullable().optional(),
  target: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
});
export type CapabilityLine = z.infer<typeof capabilityLineSchema>;

export class CapabilityResultsError extends Error {
  override name = 'CapabilityResultsError';
}

export function parseCapabilityLines(text: string, source: string): CapabilityLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line, i) => {
      const r = capabilityLineSchema.safeParse(JSON.parse(line));
      if (!r.success)
        throw new CapabilityResultsError(
          `${source}: line ${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`,
        );
      return r.data;
    });
}

/** Each check's score from the job's lines, in the order the checks are configured. */
export function capabilityScores(
  checks: Array<Pick<CapabilityCheck, 'name' | 'kind'> & { task: string }>,
  lines: CapabilityLine[],
  logUri: (check: string) => string,
): CapabilityScore[] {
  return checks.map((c) => {
    const mine = lines.filter((l) => l.check === c.name);
    const scores = mine.flatMap((l) => (l.score === null ? [] : [l.score]));
    return {
      name: c.name,
      kind: c.kind,
      task: c.task,
      n: scores.length,
      sum: scores.reduce((a, b) => a + b, 0),
      sumSquares: scores.reduce((a, b) => a + b * b, 0),
      binary: scores.every((s) => s === 0 || s === 1),
      unscored: mine.length - scores.length,
      truncated: mine.filter((l) => l.finishReason === 'length').length,
      logUri: logUri(c.name),
    };
  });
}
