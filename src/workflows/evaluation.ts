import { upsertSearchAttributes } from '@temporalio/workflow';
import type { EvalRequest, EvalSummary } from '../activities/types';
import { gpu, llm } from './activity-proxies';
import { MSM_STAGE } from './search-attributes';

/** Evaluate one trained model: sample answers on the GPU queue, then judge them on the LLM queue. */
export async function evaluationRun(req: EvalRequest): Promise<EvalSummary> {
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'eval' }]);
  const samples = await gpu.generateSamples(req);
  return llm.judgeSamples(req, samples);
}
