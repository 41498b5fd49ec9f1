import type { TrainerJobManifest } from '../training/job';
import { contentId } from '../util/hash';
import type { EvalRequest } from './types';

/** The folder of an eval generation request: derived from every input, so equal samplings are reused. */
export function evalKeyOf(req: EvalRequest): string {
  const e = req.experiment.eval;
  return `evals/${req.label}-${contentId({
    // An external arm's model by its reference; msm's own outputs (and the base model) keep their keys.
    model: req.externalModel ? { external: req.externalModel } : req.modelUri,
    evalSet: req.evalSet.sha256,
    samples: e.samplesPerPrompt,
    temperature: e.temperature,
    maxNewTokens: e.maxNewTokens,
    seed: req.seed,
    // Only when set, so evaluations without one keep the keys they always had.
    ...(req.systemPrompt ? { systemPrompt: req.systemPrompt.sha256 } : {}),
    // Likewise: thinking on or off changes the prompts; the model's default keeps the old keys.
    ...(thinkingOf(req) !== 'model-default' ? { thinking: thinkingOf(req) } : {}),
    // Another engine samples other answers; the trainer's own (hf, or none set) keeps the old keys.
    ...(e.engine?.kind === 'openai' ? { engine: { kind: 'openai', model: e.engine.model ?? null } } : {}),
  })}`;
}

/** eval.thinking; requests recorded before it existed carry none: the model's default. */
function thinkingOf(req: EvalRequest): 'on' | 'off' | 'model-default' {
  return req.experiment.eval.thinking ?? 'model-default';
}

/** The sampling job of an eval request; `systemPrompt` is the text of req.systemPrompt, read by the caller. */
export function sampleManifest(
  req: EvalRequest,
  jobId: string,
  uri: (key: string) => string,
  evalKey: string,
  systemPrompt?: string,
): TrainerJobManifest {
  const e = req.experiment.eval;
  const b = req.experiment.baseModel;
  return {
    kind: 'generate',
    jobId,
    baseModel: { init: b.init, path: b.path, initSeed: b.initSeed },
    tokenizerUri: req.tokenizerUri,
    modelUri: req.modelUri ?? undefined,
    ...(req.externalModel && { externalModel: req.externalModel }),
    promptsUri: uri(req.evalSet.key),
    samplesPerPrompt: e.samplesPerPrompt,
    temperature: e.temperature,
    maxNewTokens: e.maxNewTokens,
    // Set by the memory planner on a GPU; on CPU the trainer picks its own.
    ...(e.batchSize !== undefined ? { batchSize: e.batchSize } : {}),
    // An arm's system prompt (the spec for spec-in-context): its text travels in the manifest.
    ...(systemPrompt !== undefined ? { systemPrompt } : {}),
    // Only when on or off: the trainer renders the prompts with the template's enable_thinking (chat.py).
    ...(thinkingOf(req) !== 'model-default' ? { thinking: thinkingOf(req) } : {}),
    checkpointPrefix: uri(`${evalKey}/checkpoints`),
    outputUri: uri(`${evalKey}/samples`),
    seed: req.seed,
    device: req.experiment.compute.device,
  };
}
