import type { EvalRequest } from '../../src/eval/types';

/** The judging part of an eval request, against a scripted judge server: what the judge tests vary. */
export function judgeRequest(
  storeUri: string,
  judgeBaseUrl: string,
  prompts: number,
  judgeAttempts?: number,
): EvalRequest {
  return {
    storeUri,
    label: 'cell',
    modelUri: null,
    tokenizerUri: 'file:///tok',
    evalSet: { key: 'inputs/eval.jsonl', sha256: 'e', prompts },
    experiment: {
      eval: {
        judge: { kind: 'openai', baseUrl: judgeBaseUrl, model: 'scripted-judge', timeoutMs: 10_000 },
        ...(judgeAttempts !== undefined && { judgeAttempts }),
      },
    } as unknown as EvalRequest['experiment'],
    seed: 0,
  };
}
