import { LlmContentError, LlmError, type CompletionRequest, type CompletionResult, type LlmProvider } from './provider';
import { requestSeed } from './seed';

export interface OpenAiCompatibleOptions {
  /** Endpoint root including the version, e.g. http://127.0.0.1:8080/v1 */
  baseUrl: string;
  model: string;
  apiKey?: string;
  timeoutMs?: number;
  name?: string;
}

/**
 * A provider for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp server,
 * OpenRouter, ...). It makes one attempt per call and classifies failures; Temporal does the retrying.
 */
export function createOpenAiCompatibleProvider(opts: OpenAiCompatibleOptions): LlmProvider {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;

  return {
    name: opts.name ?? `openai:${opts.model}`,
    async complete(req: CompletionRequest): Promise<CompletionResult> {
      const body = JSON.stringify(requestBody(opts.model, req));
      let status: number;
      let text: string;
      let resHeaders: Headers;
      try {
        // The timeout covers reading the body too: a server that stalls mid-stream is a timeout.
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
        status = res.status;
        resHeaders = res.headers;
        text = await res.text();
      } catch (e) {
        throw transportError(e, url, timeoutMs);
      }
      if (status < 200 || status >= 300) throw httpError(status, resHeaders, text, opts);
      return parseCompletion(text, opts.model);
    },
  };
}

export function requestBody(model: string, req: CompletionRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model,
    messages: req.messages,
    max_tokens: req.maxTokens,
    temperature: req.temperature,
  };
  // vLLM and OpenAI honour `seed` (OpenAI: best effort): the same item asks for the same sample every run.
  const seed = requestSeed(req);
  if (seed !== undefined) body.seed = seed;
  if (req.jsonSchema) {
    body.response_format = {
      type: 'json_schema',
      json_schema: { name: 'output', schema: req.jsonSchema, strict: true },
    };
  }
  return body;
}

export function transportError(e: unknown, url: string, timeoutMs: number): LlmError {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return new LlmError(`request to ${url} timed out after ${timeoutMs} ms`, true);
  }
  const detail = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return new LlmError(`network error calling ${url}: ${detail}`, true);
}

// What a person must change for each non-retryable status.
const FIX: Record<number, string> = {
  400: 'bad request: check the model name, maxTokens and whether the endpoint supports json_schema response_format',
  401: 'unauthorized: check the API key env var (provider.apiKeyEnv) and that it holds a valid key',
  403: 'forbidden: the API key has no access to this model or endpoint',
  404: 'not found: check provider.baseUrl (it should end in /v1) and provider.model',
  422: 'unprocessable request: check provider.model and the request parameters the endpoint accepts',
};

export function httpError(
  status: number,
  headers: Headers,
  text: string,
  opts: { baseUrl: string; model: string },
): LlmError {
  const detail = serverMessage(text);
  const where = `${opts.baseUrl} model ${opts.model}`;
  // Out of quota or credit (OpenAI: 429 insufficient_quota; others: 402): retryable, but only after a
  // person tops up or the period rolls over, so the key is held and probed instead of hammered.
  if (status === 402 || (status === 429 && /quota|credit|billing|usage limit/i.test(text))) {
    return new LlmError(
      `usage limit reached (HTTP ${status}) on ${where}${detail}`,
      true,
      status,
      retryAfterMs(headers),
      true,
    );
  }
  if (status === 429 || status === 408 || status === 409 || status >= 500) {
    const what = status === 429 ? 'rate limited' : status === 529 ? 'overloaded' : 'server error';
    return new LlmError(`${what} (HTTP ${status}) from ${where}${detail}`, true, status, retryAfterMs(headers));
  }
  const fix = FIX[status] ?? 'request rejected';
  return new LlmError(`${fix} (HTTP ${status} from ${where})${detail}`, false, status);
}

export function serverMessage(text: string): string {
  let msg = text;
  try {
    const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string };
    msg = (typeof j.error === 'string' ? j.error : j.error?.message) ?? j.message ?? text;
  } catch {
    // not JSON: keep the raw text
  }
  msg = msg.trim();
  return msg ? `: ${msg.length > 300 ? `${msg.slice(0, 300)}...` : msg}` : '';
}

/** `retry-after-ms` (precise) or `Retry-After` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const ra = headers.get('retry-after')?.trim();
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Math.round(Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

interface ChatCompletionBody {
  model?: string;
  choices?: { message?: { content?: unknown; refusal?: unknown }; finish_reason?: string | null }[];
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
  };
}

export function parseCompletion(text: string, model: string): CompletionResult {
  let body: ChatCompletionBody;
  try {
    body = JSON.parse(text) as ChatCompletionBody;
  } catch {
    throw new LlmError(`malformed response: body is not JSON: ${JSON.stringify(text.slice(0, 200))}`, true);
  }
  const choice = Array.isArray(body?.choices) ? body.choices[0] : undefined;
  if (!choice) throw new LlmError('malformed response: no choices', true);
  const content = choice.message?.content;
  const reason = choice.finish_reason;
  if (typeof content !== 'string' || !content) {
    // A refusal is an answer, not a fault: OpenAI puts it in `message.refusal` (content null); Azure's content
    // filter ends the choice with finish_reason "content_filter" and no content.
    const refusal = choice.message?.refusal;
    if (typeof refusal === 'string' && refusal.trim()) throw new LlmContentError('refusal', refusal.trim());
    if (reason === 'content_filter')
      throw new LlmContentError(
        'refusal',
        "the provider's content filter withheld the answer (finish_reason content_filter)",
      );
  }
  if (typeof content !== 'string') throw new LlmError('malformed response: choice has no text content', true);
  const prompt = body.usage?.prompt_tokens ?? 0;
  // OpenAI (and vLLM with prefix caching) report the cached part of the prompt: priced as cache reads.
  const cached = body.usage?.prompt_tokens_details?.cached_tokens;
  return {
    text: content,
    finishReason: reason === 'length' ? 'length' : reason === 'stop' || reason == null ? 'stop' : 'other',
    usage: {
      inputTokens: prompt - (cached ?? 0),
      outputTokens: body.usage?.completion_tokens ?? 0,
      ...(cached ? { cacheReadTokens: cached } : {}),
    },
    model: typeof body.model === 'string' ? body.model : model,
  };
}
