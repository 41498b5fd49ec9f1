import { endpointProblem } from '../../security/allowlist';
import type { ProviderSettings } from '../../config/experiment-schema';
import type { TrainerJobManifest } from '../../training/job';
import { contentId } from '../../util/hash';
import type { EvalRequest } from '../types';
import { inspectConditions } from './conditions';

/**
 * The Inspect job of an eval request (trainer/msm_trainer/inspect_job.py) and the store folder it writes:
 * derived from every input, so an equal evaluation is reused and a different one never is. Pure.
 */
export function inspectEvalKeyOf(req: EvalRequest): string {
  const e = req.experiment.eval;
  return `evals/${req.label}-inspect-${contentId({
    model: req.externalModel ? { external: req.externalModel } : req.modelUri,
    suite: e.inspect,
    temperature: e.temperature,
    grader: graderOf(e.judge),
    seed: req.seed,
    ...(e.thinking && e.thinking !== 'model-default' ? { thinking: e.thinking } : {}),
  })}`;
}

export class InspectGraderError extends Error {
  override name = 'InspectGraderError';
}

/** The experiment's judge as an Inspect grader: an OpenAI-compatible or Anthropic endpoint. */
export function graderOf(judge: ProviderSettings): NonNullable<TrainerJobManifest['inspect']>['grader'] {
  if (judge.kind === 'openai')
    return {
      kind: 'openai',
      model: judge.model,
      baseUrl: judge.baseUrl,
      ...(judge.apiKeyEnv && { apiKeyEnv: judge.apiKeyEnv }),
    };
  if (judge.kind === 'anthropic')
    return {
      kind: 'anthropic',
      model: judge.model,
      apiKeyEnv: judge.apiKeyEnv,
      ...(judge.baseUrl && { baseUrl: judge.baseUrl }),
    };
  throw new InspectGraderError(
    `eval.judge: an Inspect task grades inside Inspect, which needs an OpenAI-compatible or Anthropic endpoint; the local judge (kind "${judge.kind}") cannot: serve it behind an OpenAI-compatible server, or use another judge`,
  );
}

export function inspectManifest(
  req: EvalRequest,
  jobId: string,
  uri: (key: string) => string,
  evalKey: string,
): TrainerJobManifest {
  const e = req.experiment.eval;
  const suite = e.inspect!;
  const b = req.experiment.baseModel;
  // The trainer reads the grader's key where it runs: the workers' allowlists apply (docs/security.md).
  const refused = endpointProblem('eval.judge', graderOf(e.judge));
  if (refused) throw new InspectGraderError(refused);
  return {
    kind: 'inspect',
    jobId,
    baseModel: { init: b.init, path: b.path, initSeed: b.initSeed },
    tokenizerUri: req.tokenizerUri,
    modelUri: req.modelUri ?? undefined,
    ...(req.externalModel && { externalModel: req.externalModel }),
    inspect: {
      task: suite.task,
      conditions: inspectConditions(suite.grid),
      epochs: suite.epochs,
      maxTokens: suite.maxTokens,
      temperature: e.temperature,
      ...(e.batchSize !== undefined ? { batchSize: e.batchSize } : {}),
      grader: graderOf(e.judge),
    },
    ...(e.thinking && e.thinking !== 'model-default' ? { thinking: e.thinking } : {}),
    checkpointPrefix: uri(`${evalKey}/checkpoints`),
    outputUri: uri(`${evalKey}/inspect`),
    seed: req.seed,
    device: req.experiment.compute.device,
  };
}
