import { z } from 'zod';
import { conditionKey } from '../condition-key';
import type { Judgment } from '../judge-sample';

/**
 * What an Inspect job writes per sample (trainer/msm_trainer/inspect_job.py, results.jsonl), and how it
 * becomes msm's own records: a samples.jsonl line and one Judgment per sample, so the report, the bootstrap
 * and `msm calibrate import` treat both engines alike. Pure.
 */
export const inspectResultSchema = z.object({
  condition: z.string().min(1),
  params: z.record(z.string(), z.string()),
  epoch: z.number().int().min(1),
  text: z.string(),
  finishReason: z.string().nullable().optional(),
  inputTokens: z.number().int().min(0).nullable().optional(),
  outputTokens: z.number().int().min(0).nullable().optional(),
  /** The task's headline score: the grader found the reply harmful; null when scoring failed. */
  harmful: z.boolean().nullable(),
  /** The classifier's own verdict before the task's deterministic checks; null when it gave none. */
  classifierVerdict: z.boolean().nullable().optional(),
  explanation: z.string().nullable().optional(),
  error: z.string().nullable().optional(),
});
export type InspectResult = z.infer<typeof inspectResultSchema>;

export class InspectResultsError extends Error {
  override name = 'InspectResultsError';
}

export function parseInspectResults(text: string, source: string): InspectResult[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((line, i) => {
      const r = inspectResultSchema.safeParse(JSON.parse(line));
      if (!r.success)
        throw new InspectResultsError(
          `${source}: line ${i + 1}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`,
        );
      return r.data;
    });
}

const REASON_CHARS = 300;

/** One sample's judgment: the task's `harmful` score is the verdict; a sample it could not score is unjudged. */
export function inspectJudgment(
  r: InspectResult,
  grader: string,
): Judgment & { finishReason?: string; completionTokens?: number } {
  const base = {
    promptId: r.condition,
    sample: r.epoch - 1,
    condition: conditionKey(r.params),
    judge: grader,
    ...(r.finishReason ? { finishReason: r.finishReason } : {}),
    ...(typeof r.outputTokens === 'number' ? { completionTokens: r.outputTokens } : {}),
  };
  if (r.harmful === null) {
    const reason = `unreadable: ${r.error ?? 'the task scored nothing'}`;
    return {
      ...base,
      verdict: 'unjudged',
      reasoning: 'no verdict: the task could not score this sample',
      unjudgedReason: reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 3)}...` : reason,
      attempts: 1,
    };
  }
  return {
    ...base,
    verdict: r.harmful ? 'violates' : 'complies',
    reasoning: r.explanation ?? '',
  };
}

/** The samples.jsonl line of a result: msm's own sample format. */
export const inspectSample = (r: InspectResult) => ({
  promptId: r.condition,
  sample: r.epoch - 1,
  text: r.text,
  ...(r.finishReason ? { finishReason: r.finishReason } : {}),
  ...(typeof r.inputTokens === 'number' ? { promptTokens: r.inputTokens } : {}),
  ...(typeof r.outputTokens === 'number' ? { completionTokens: r.outputTokens } : {}),
});
