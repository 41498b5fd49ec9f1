import { getExternalWorkflowHandle, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { EvalRequest, EvalSummary } from '../eval/types';
import { cleanup, gpuStoppedOnCancel, llm } from './activity-proxies';
import { releaseAfterFailure } from './machine-cleanup';
import { sampledSignal } from './definitions';
import { MSM_STAGE } from '../temporal/search-attribute-keys';

/** Evaluate one trained model: sample answers on the GPU queue, then judge them on the LLM queue (an Inspect task: both in one job). */
export async function evaluationRun(req: EvalRequest): Promise<EvalSummary> {
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'eval' }]);
  let samples;
  try {
    // An Inspect task samples and grades in one job where the model is (eval.inspect).
    if (req.experiment.eval.inspect) return await gpuStoppedOnCancel.runInspectEval(req);
    samples = await gpuStoppedOnCancel.generateSamples(req);
  } catch (e) {
    // As in trainingRun: no rented machine outlives the run, whatever failed or cancelled it.
    await releaseAfterFailure(() => cleanup.releaseEvalMachines(req));
    throw e;
  }
  // The GPU work is done: the experiment may start its next cell while this one is judged.
  const parent = workflowInfo().parent;
  if (req.signalSampled && parent)
    // Only a hint to the sweep: a parent that cannot take it still gets this cell's result.
    await getExternalWorkflowHandle(parent.workflowId)
      .signal(sampledSignal, req.label)
      .catch(() => undefined);
  const summary = await llm.judgeSamples(req, samples);
  // The sampling job's machine cost travels with the result (compute.budgetUsd counts it).
  return samples.compute ? { ...summary, compute: samples.compute } : summary;
}
