import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifyLlmError } from '../../llm/llm-failures';
import type { ChatMessage } from '../../llm/provider';
import { endpointProblem } from '../../security/allowlist';
import type { ArtifactStore } from '../../store/artifact-store';
import { badInput } from '../../temporal/failures';
import { contentId } from '../../util/hash';
import type { EvalRequest } from '../types';
import {
  loadVllmAdapter,
  sampleAll,
  samplesJsonl,
  type EngineJob,
  type EnginePrompt,
  type OpenAiEngine,
  type SampleLine,
} from './openai-engine';

/** The eval set's prompts with an arm's system prompt: before a prompt's own system turn, as the trainer does. */
export function withSystemPrompt(prompts: EnginePrompt[], system: string | undefined): EnginePrompt[] {
  if (!system) return prompts;
  return prompts.map((p) => {
    const [first, ...rest] = p.messages;
    const merged: ChatMessage[] =
      first.role === 'system'
        ? [{ role: 'system', content: `${system}\n\n${first.content}` }, ...rest]
        : [{ role: 'system', content: system }, ...p.messages];
    return { ...p, messages: merged };
  });
}

export function parsePrompts(jsonl: string): EnginePrompt[] {
  return jsonl
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const { id, messages } = JSON.parse(l) as EnginePrompt;
      return { id, messages };
    });
}

/** A model URI as a folder on this machine (a vLLM server on the same disk, or transformers serve). */
function folderOf(uri: string): string | undefined {
  return uri.startsWith('file://') ? fileURLToPath(uri) : path.isAbsolute(uri) ? uri : undefined;
}

/** What the server is asked for: the base model's served name, or the cell's model (see OpenAiEngine.adapters). */
export async function servedModel(job: EngineJob, req: EvalRequest): Promise<string> {
  const e = job.engine;
  if (req.modelUri === null) return e.model ?? req.experiment.baseModel.name;
  const folder = folderOf(req.modelUri);
  if (e.adapters === 'path') return folder ?? req.modelUri;
  if (!folder)
    throw badInput(
      `eval.engine.adapters "vllm": the server loads ${req.label}'s adapter from its own disk, and ${req.modelUri} is not a file path; ` +
        'use a store the server can read (file://) or eval.engine.adapters "path" with a server that fetches it',
    );
  if (!existsSync(path.join(folder, 'adapter_config.json')))
    throw badInput(
      `eval.engine.adapters "vllm" loads LoRA adapters, and ${req.label}'s model (${folder}) is a full-weight model: ` +
        'serve it and use eval.engine.adapters "path", or evaluate with eval.engine.kind "hf"',
    );
  const name = `msm-${contentId(req.modelUri)}`;
  await loadVllmAdapter(job, name, folder);
  return name;
}

/**
 * One cell's samples through the server, into `${evalKey}/samples/` as the trainer's generate job leaves them
 * (samples.jsonl, metrics.json, COMPLETE last). Finished batches of prompts are stored as they end, so a
 * retried activity asks only for the rest.
 */
export async function sampleOnEngine(
  store: ArtifactStore,
  req: EvalRequest,
  evalKey: string,
  systemPrompt: string | undefined,
  heartbeat: (details: unknown) => void,
): Promise<void> {
  const e = req.experiment.eval;
  const engine = e.engine as OpenAiEngine;
  // A key variable or host off the workers' allowlists is refused before anything is read or sent (as at load).
  const refused = endpointProblem('eval.engine', engine);
  if (refused) throw badInput(refused);
  const apiKey = engine.apiKeyEnv ? process.env[engine.apiKeyEnv] : undefined;
  if (engine.apiKeyEnv && !apiKey)
    throw badInput(`eval.engine.apiKeyEnv: ${engine.apiKeyEnv} is not set on the worker that samples`);
  const job: EngineJob = {
    engine,
    served: '',
    samplesPerPrompt: e.samplesPerPrompt,
    temperature: e.temperature,
    maxNewTokens: e.maxNewTokens,
    seed: req.seed,
    ...(e.thinking && e.thinking !== 'model-default' && { thinking: e.thinking }),
    ...(apiKey && { apiKey }),
  };
  const started = Date.now();
  // A batch of long answers can outlast the heartbeat timeout: beat on a clock too, with the latest details.
  let details: unknown = { engine: engine.baseUrl };
  const clock = setInterval(() => heartbeat(details), 10_000);
  try {
    job.served = await servedModel(job, req);
    const prompts = withSystemPrompt(parsePrompts((await store.get(req.evalSet.key)).toString('utf8')), systemPrompt);
    const batchKey = (b: number) => `${evalKey}/engine/batch-${String(b).padStart(6, '0')}.jsonl`;
    const lines = await sampleAll(job, prompts, {
      read: async (b) =>
        (await store.exists(batchKey(b)))
          ? (await store.get(batchKey(b)))
              .toString('utf8')
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as SampleLine)
          : undefined,
      write: async (b, ls) => void (await store.put(batchKey(b), samplesJsonl(ls))),
      progress: (done, total) =>
        heartbeat((details = { engine: engine.baseUrl, served: job.served, batches: `${done}/${total}` })),
    });
    await store.put(`${evalKey}/samples/samples.jsonl`, samplesJsonl(lines));
    const metrics = {
      engine: 'openai',
      served: job.served,
      prompts: prompts.length,
      samples: lines.length,
      completion_tokens: lines.reduce((n, l) => n + (l.completionTokens ?? 0), 0),
      seconds: (Date.now() - started) / 1000,
    };
    await store.put(`${evalKey}/samples/metrics.json`, `${JSON.stringify(metrics, null, 2)}\n`);
    await store.put(`${evalKey}/samples/COMPLETE`, 'ok\n');
  } catch (err) {
    throw classifyLlmError(err);
  } finally {
    clearInterval(clock);
  }
}
