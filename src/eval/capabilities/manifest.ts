import { endpointProblem } from '../../security/allowlist';
import type { TrainerJobManifest } from '../../training/job';
import { contentId } from '../../util/hash';
import { graderOf, InspectGraderError } from '../inspect/manifest';
import { choiceSample, parseQuestions } from './questions';
import type { CapabilityRequest } from './types';

/** The trainer's built-in Inspect task for a questions file (trainer/msm_trainer/inspect_tasks.py). */
export const MULTIPLE_CHOICE_TASK = 'msm/multiple_choice';

export const taskOf = (c: CapabilityRequest['checks'][number]) => c.task ?? MULTIPLE_CHOICE_TASK;

/**
 * The store folder of an arm's capability checks: derived from every input (the model, the checks, the
 * questions' content, the grader), so an equal run is reused and a different one never is. Pure.
 */
export function capabilitiesKeyOf(req: CapabilityRequest): string {
  const e = req.experiment.eval;
  return `evals/${req.label}-${contentId({
    model: req.externalModel ? { external: req.externalModel } : req.modelUri,
    checks: req.checks,
    questions: Object.fromEntries(Object.entries(req.questions).map(([k, q]) => [k, q.sha256])),
    grader: graderOrNone(req),
    seed: req.cell.seed,
    ...(e.thinking && e.thinking !== 'model-default' ? { thinking: e.thinking } : {}),
  })}`;
}

/** The experiment's judge as the grader of tasks that take one (xstest); none for a local judge. */
function graderOrNone(req: CapabilityRequest) {
  const judge = req.experiment.eval.judge;
  return judge.kind === 'openai' || judge.kind === 'anthropic' ? graderOf(judge) : undefined;
}

/**
 * The capabilities job. `readQuestions` gives a stored question file's text: its questions travel inline
 * (a few KB), so the job needs nothing from the store but the model.
 */
export async function capabilitiesManifest(
  req: CapabilityRequest,
  jobId: string,
  uri: (key: string) => string,
  key: string,
  readQuestions: (storeKey: string) => Promise<string>,
): Promise<TrainerJobManifest> {
  const e = req.experiment.eval;
  const grader = graderOrNone(req);
  // The trainer reads the grader's key where it runs: the workers' allowlists apply (docs/security.md).
  const refused = grader && endpointProblem('eval.judge', grader);
  if (refused) throw new InspectGraderError(refused);
  const checks = [];
  for (const c of req.checks) {
    const stored = req.questions[c.name];
    const samples = stored ? parseQuestions(await readQuestions(stored.key), stored.key).map(choiceSample) : undefined;
    checks.push({
      id: c.name,
      task: taskOf(c),
      params: c.params,
      ...(samples && { samples }),
      limit: c.limit,
      maxTokens: c.maxTokens,
      temperature: c.temperature,
    });
  }
  const b = req.experiment.baseModel;
  return {
    kind: 'capabilities',
    jobId,
    baseModel: { init: b.init, path: b.path, initSeed: b.initSeed },
    tokenizerUri: req.tokenizerUri,
    modelUri: req.modelUri ?? undefined,
    ...(req.externalModel && { externalModel: req.externalModel }),
    capabilities: {
      checks,
      ...(e.batchSize !== undefined ? { batchSize: e.batchSize } : {}),
      ...(grader && { grader }),
    },
    ...(e.thinking && e.thinking !== 'model-default' ? { thinking: e.thinking } : {}),
    checkpointPrefix: uri(`${key}/checkpoints`),
    outputUri: uri(`${key}/capabilities`),
    seed: req.cell.seed,
    device: req.experiment.compute.device,
  };
}
