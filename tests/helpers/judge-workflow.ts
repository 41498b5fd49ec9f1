// A workflow for tests/integration/judge-refusal.test.ts: the evaluation child's judging step alone (evaluationRun minus
// sampling, which needs the trainer), through the production activity proxy: the same task queue, timeouts
// and retry policy as `evaluationRun`.
import type { EvalRequest, EvalSummary, SamplesRef } from '../../src/eval/types';
import { llm } from '../../src/workflows/activity-proxies';

export async function judgeOnly(req: EvalRequest, samples: SamplesRef): Promise<EvalSummary> {
  return llm.judgeSamples(req, samples);
}
