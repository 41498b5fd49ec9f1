import { endpointProblem } from '../security/allowlist';
import { LlmError } from './provider';
import { retryAfterMs } from './openai-compatible';

export interface EmbeddingsSettings {
  /** OpenAI-compatible endpoint root including the version, e.g. http://127.0.0.1:8000/v1 */
  baseUrl: string;
  model: string;
  apiKeyEnv?: string;
  timeoutMs: number;
}

export interface EmbeddingsResult {
  vectors: number[][];
  inputTokens: number;
}

/**
 * One POST to an OpenAI-compatible /embeddings endpoint. Failures are classified like chat calls:
 * 429, 408 and 5xx and network faults are retryable (Temporal retries), the rest need a person.
 */
export async function embedTexts(settings: EmbeddingsSettings, texts: string[]): Promise<EmbeddingsResult> {
  const url = `${settings.baseUrl.replace(/\/+$/, '')}/embeddings`;
  // A key variable or host off the workers' allowlists is refused before anything is read or sent.
  const refused = endpointProblem('embeddings', settings);
  if (refused) throw new LlmError(refused, false);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (settings.apiKeyEnv) {
    const key = process.env[settings.apiKeyEnv];
    if (!key)
      throw new LlmError(
        `environment variable ${settings.apiKeyEnv} (embeddings.apiKeyEnv) is not set: export it with the API key for ${settings.baseUrl}`,
        false,
      );
    headers.authorization = `Bearer ${key}`;
  }
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: settings.model, input: texts }),
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
    text = await res.text();
  } catch (e) {
    const err = e as Error;
    const timedOut = err?.name === 'TimeoutError' || err?.name === 'AbortError';
    throw new LlmError(
      timedOut
        ? `embeddings request to ${url} timed out after ${settings.timeoutMs} ms`
        : `network error calling ${url}: ${err?.message ?? e}`,
      true,
    );
  }
  if (!res.ok) {
    const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
    const fix = retryable ? '' : ': check embeddings.baseUrl (it should end in /v1), embeddings.model and the API key';
    throw new LlmError(
      `embeddings HTTP ${res.status} from ${url}${fix} (${text.slice(0, 200)})`,
      retryable,
      res.status,
      retryAfterMs(res.headers),
    );
  }
  let body: { data?: { index?: number; embedding?: unknown }[]; usage?: { prompt_tokens?: number } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new LlmError(`malformed embeddings response: body is not JSON: ${JSON.stringify(text.slice(0, 200))}`, true);
  }
  const data = [...(body.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  const vectors = data.map((d) => d.embedding);
  const dims = Array.isArray(vectors[0]) ? vectors[0].length : 0;
  const ok =
    vectors.length === texts.length &&
    dims > 0 &&
    vectors.every((v) => Array.isArray(v) && v.length === dims && v.every((x) => typeof x === 'number'));
  if (!ok)
    throw new LlmError(
      `malformed embeddings response: expected ${texts.length} vectors of one length, got ${vectors.length}`,
      true,
    );
  return { vectors: vectors as number[][], inputTokens: body.usage?.prompt_tokens ?? 0 };
}
