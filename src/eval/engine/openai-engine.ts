import type { Experiment } from '../../config/experiment-schema';
import { transportError, httpError } from '../../llm/openai-compatible';
import { LlmError, type ChatMessage } from '../../llm/provider';
import { seedOfKey } from '../../llm/seed';

/**
 * Sampling an eval set through an OpenAI-compatible server (`eval.engine.kind: openai`): vLLM serving the
 * base model with the cells' LoRA adapters, or any server of the same API. The lines it writes are the
 * trainer's (`samples.jsonl`: promptId, sample, text, finishReason, promptTokens, completionTokens), so
 * judging and the report read them the same way whichever engine sampled.
 */
/** eval.engine of kind openai, as parsed (src/config/experiment-schema.ts documents each field). */
export type OpenAiEngine = Extract<NonNullable<Experiment['eval']['engine']>, { kind: 'openai' }>;

export interface EnginePrompt {
  id: string;
  messages: ChatMessage[];
}

/** One cell's sampling: what the trainer's generate job is told, for a server instead. */
export interface EngineJob {
  engine: OpenAiEngine;
  /** The model name to ask the server for (the base's, a loaded adapter's, or a folder). */
  served: string;
  samplesPerPrompt: number;
  temperature: number;
  maxNewTokens: number;
  seed: number;
  thinking?: 'on' | 'off';
  apiKey?: string;
}

export interface SampleLine {
  promptId: string;
  sample: number;
  text: string;
  finishReason: 'stop' | 'length' | 'other';
  promptTokens?: number;
  completionTokens?: number;
}

interface Choice {
  index?: number;
  message?: { content?: unknown };
  finish_reason?: string | null;
}
interface Completion {
  choices?: Choice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

/** The request bodies of one prompt: at temperature 0 one greedy sample (copied to all, as the trainer does). */
export function promptRequests(job: EngineJob, p: EnginePrompt): Array<{ body: Record<string, unknown>; n: number }> {
  const greedy = job.temperature === 0;
  const n = greedy ? 1 : job.samplesPerPrompt;
  const body = (k: number | undefined, count: number) => ({
    model: job.served,
    messages: p.messages,
    max_tokens: job.maxNewTokens,
    temperature: job.temperature,
    // Seeded from the cell's seed, the prompt and the sample: a retried request asks for the same sample.
    seed: seedOfKey(`${job.seed}:${p.id}${k === undefined ? '' : `:${k}`}`),
    ...(count > 1 && { n: count }),
    ...(job.thinking && { chat_template_kwargs: { enable_thinking: job.thinking === 'on' } }),
  });
  if (job.engine.batchSamples || n === 1) return [{ body: body(undefined, n), n }];
  return Array.from({ length: n }, (_, k) => ({ body: body(k, 1), n: 1 }));
}

const finishOf = (r: string | null | undefined): SampleLine['finishReason'] =>
  r === 'length' ? 'length' : r === 'stop' || r == null ? 'stop' : 'other';

/** The choices of one response as sample lines, numbered from `first`. */
export function parseSamples(text: string, p: EnginePrompt, n: number, first: number): SampleLine[] {
  let body: Completion;
  try {
    body = JSON.parse(text) as Completion;
  } catch {
    throw new LlmError(`malformed response: body is not JSON: ${JSON.stringify(text.slice(0, 200))}`, true);
  }
  const choices = (body.choices ?? []).slice().sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  if (choices.length !== n)
    throw new LlmError(
      `the server returned ${choices.length} of the ${n} samples asked for (OpenAI's n): a server without n ` +
        'needs eval.engine.batchSamples: false',
      false,
    );
  const promptTokens = body.usage?.prompt_tokens;
  return choices.map((c, i) => {
    const content = c.message?.content;
    // vLLM with --reasoning-parser moves a thinking model's reasoning out of `content` (null when the answer
    // never came): the trainer's samples keep it in the text, so such a server would be measured differently.
    if (content !== undefined && content !== null && typeof content !== 'string')
      throw new LlmError('malformed response: a choice has no text content', true);
    if (typeof content !== 'string')
      throw new LlmError(
        'a choice came back without text content: serve the model without a reasoning parser (vllm serve without ' +
          '--reasoning-parser), so a thinking model answers with its reasoning in the text as the trainer samples it',
        false,
      );
    return {
      promptId: p.id,
      sample: first + i,
      text: content,
      finishReason: finishOf(c.finish_reason),
      ...(promptTokens !== undefined && { promptTokens }),
      // Per sample only when the response holds one (usage totals the choices).
      ...(n === 1 && body.usage?.completion_tokens !== undefined && { completionTokens: body.usage.completion_tokens }),
    };
  });
}

async function post(job: EngineJob, path: string, body: unknown): Promise<string> {
  const url = `${job.engine.baseUrl.replace(/\/+$/, '')}${path}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (job.apiKey) headers.authorization = `Bearer ${job.apiKey}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(job.engine.timeoutMs),
    });
    text = await res.text();
  } catch (e) {
    throw transportError(e, url, job.engine.timeoutMs);
  }
  if (!res.ok) throw httpError(res.status, res.headers, text, { baseUrl: job.engine.baseUrl, model: job.served });
  return text;
}

/** All samples of one prompt, in sample order. */
export async function samplePrompt(job: EngineJob, p: EnginePrompt): Promise<SampleLine[]> {
  const lines: SampleLine[] = [];
  for (const { body, n } of promptRequests(job, p))
    lines.push(...parseSamples(await post(job, '/chat/completions', body), p, n, lines.length));
  // Greedy: the one sample stands for all of them (the trainer's generate job does the same).
  const one = lines[0];
  for (let k = lines.length; k < job.samplesPerPrompt; k++) lines.push({ ...one, sample: k });
  return lines;
}

/**
 * vLLM's run-time LoRA loading (`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`, `--enable-lora`): the adapter in
 * `folder` (a path on the server's disk) becomes model `name`. Loading a name already loaded is no error.
 */
export async function loadVllmAdapter(job: EngineJob, name: string, folder: string): Promise<void> {
  try {
    await post({ ...job, served: name }, '/load_lora_adapter', { lora_name: name, lora_path: folder });
  } catch (e) {
    if (e instanceof LlmError && e.status === 400 && /already (been )?loaded/i.test(e.message)) return;
    throw e;
  }
}

/** Batches of prompts, each stored once done, so a retried activity asks only for what is missing. */
export interface BatchStore {
  read(batch: number): Promise<SampleLine[] | undefined>;
  write(batch: number, lines: SampleLine[]): Promise<void>;
  progress(done: number, total: number): void;
}

export const PROMPTS_PER_BATCH = 8;

/** Every prompt's samples, in file order; up to `engine.concurrency` requests in flight. */
export async function sampleAll(job: EngineJob, prompts: EnginePrompt[], io: BatchStore): Promise<SampleLine[]> {
  const batches = Math.ceil(prompts.length / PROMPTS_PER_BATCH);
  const out: SampleLine[][] = new Array<SampleLine[]>(batches);
  let done = 0;
  const todo: number[] = [];
  for (let b = 0; b < batches; b++) {
    const stored = await io.read(b);
    if (stored) out[b] = stored;
    else todo.push(b);
  }
  done = batches - todo.length;
  io.progress(done, batches);
  const workers = Math.max(1, Math.min(todo.length, Math.ceil(job.engine.concurrency / PROMPTS_PER_BATCH)));
  const perBatch = Math.max(1, Math.floor(job.engine.concurrency / workers));
  const next = async (): Promise<void> => {
    for (let b = todo.shift(); b !== undefined; b = todo.shift()) {
      const slice = prompts.slice(b * PROMPTS_PER_BATCH, (b + 1) * PROMPTS_PER_BATCH);
      const lines = await inPool(slice, perBatch, (p) => samplePrompt(job, p));
      out[b] = lines.flat();
      await io.write(b, out[b]);
      io.progress(++done, batches);
    }
  };
  await Promise.all(Array.from({ length: workers }, next));
  return out.flat();
}

/** fn over items with at most `limit` running at once; results in item order. */
async function inPool<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const res = new Array<R>(items.length);
  let i = 0;
  const run = async () => {
    for (let k = i++; k < items.length; k = i++) res[k] = await fn(items[k]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return res;
}

export const samplesJsonl = (lines: SampleLine[]): string => lines.map((l) => `${JSON.stringify(l)}\n`).join('');
