// Requests of the training and evaluation runs as msmExperiment makes them, from an experiment checked by the
// real schema and msm's own helpers.
import { hyperAt } from '../../src/config/aft-steps';
import { worldOf, worldSize } from '../../src/config/compute-shape';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { EvalRequest } from '../../src/eval/types';
import type { TrainRequest } from '../../src/training/types';
import { ref, smallExperiment } from './stub-experiment';

export function trainRequest(label: string): TrainRequest {
  const x = parseExperiment(smallExperiment());
  return {
    kind: 'aft',
    storeUri: x.store,
    label,
    data: ref('inputs/aft.jsonl'),
    fraction: 1,
    seed: 0,
    experiment: { baseModel: x.baseModel, compute: x.compute },
    hyper: hyperAt(x.aft, 1, worldSize(worldOf(x.compute))),
  };
}

/** `inspect`: the experiment evaluates with an Inspect task (graded by an OpenAI-compatible judge). */
export function evalRequest(label: string, inspect?: Record<string, unknown>): EvalRequest {
  const raw = smallExperiment();
  const judge = { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', model: 'stub-judge' };
  const x = parseExperiment(inspect ? { ...raw, eval: { inspect, judge } } : raw);
  return {
    storeUri: x.store,
    label,
    modelUri: `file:///tmp/runs/${label}/final`,
    tokenizerUri: 'file:///tmp/tok/tokenizer.json',
    evalSet: { key: 'inputs/eval.jsonl', sha256: 'eval-sha', prompts: 8 },
    experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
    seed: 0,
  };
}
