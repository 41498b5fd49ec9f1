import type { z } from 'zod';
import type { ProviderSettings } from '../config/experiment-schema';
import { createProvider } from './create-provider';
import { parseJsonOutput } from './json-output';
import { LlmContentError, LlmError, type CompletionRequest, type CompletionResult, type LlmProvider } from './provider';
import { KeyRateLimiter } from './rate-limiter';
import { canonicalJson } from '../util/canonical-json';
import { TOOLS_DIR } from '../util/project-paths';
import { usageOf, type Price, type Usage } from '../cost/usage';
import { activityAttempt, heartbeatIfActivity } from '../temporal/activity-context';
import { classifyLlmError } from './llm-failures';

const providers = new Map<string, Promise<LlmProvider>>();

/** One provider per settings per worker process (the local model loads once). */
export function providerFor(settings: ProviderSettings): Promise<LlmProvider> {
  const key = canonicalJson(settings);
  const cached = providers.get(key);
  if (cached) return cached;
  const p = createProvider(settings, TOOLS_DIR);
  p.catch(() => providers.delete(key));
  providers.set(key, p);
  return p;
}

/** A stable name of the generator for lineage and content ids. */
export function providerId(settings: ProviderSettings): string {
  return settings.kind === 'local'
    ? `local:${settings.model ?? 'gemma-3-270m-q4_k_m'}`
    : `${settings.kind}:${settings.model}`;
}

/** The provider's price table (none for the local model). */
export function priceOf(settings: ProviderSettings): Price | undefined {
  return settings.kind === 'local' ? undefined : settings.price;
}

/** What one call cost, by the provider's price table; batch-API calls get the batch discount. */
export function usageFor(settings: ProviderSettings, res: CompletionResult, opts: { batch?: boolean } = {}): Usage {
  return usageOf(res.usage, priceOf(settings), opts);
}

const limiters = new Map<string, KeyRateLimiter>();

/** One limiter per endpoint, key and model in this process: every workflow's calls on it share the limits. */
export function limiterFor(settings: ProviderSettings): KeyRateLimiter | undefined {
  if (settings.kind === 'local' || !settings.limits) return undefined;
  const key = canonicalJson([settings.kind, settings.baseUrl ?? null, settings.apiKeyEnv ?? null, settings.model]);
  let limiter = limiters.get(key);
  if (!limiter || canonicalJson(limiter.limits) !== canonicalJson(settings.limits)) {
    limiter = new KeyRateLimiter(settings.limits);
    limiters.set(key, limiter);
  }
  return limiter;
}

/** About 4 characters a token: only sizes the reservation, which the reported usage then replaces. */
const estimateInput = (req: CompletionRequest) => Math.ceil(req.messages.reduce((n, m) => n + m.content.length, 0) / 4);

/**
 * Complete once within the key's rate limits, heartbeating while waiting and while the call is in
 * flight (a slow or throttled generation is not a dead worker); provider errors become classified
 * Temporal failures, and a Retry-After or usage-limit answer holds the whole key.
 */
export async function complete(settings: ProviderSettings, req: CompletionRequest): Promise<CompletionResult> {
  try {
    return await callProvider(settings, req);
  } catch (e) {
    throw classifyLlmError(e);
  }
}

/** `complete` with the provider's own errors (LlmError and its content failures) left unclassified. */
async function callProvider(settings: ProviderSettings, req: CompletionRequest): Promise<CompletionResult> {
  const provider = await providerFor(settings);
  const limiter = limiterFor(settings);
  heartbeatIfActivity();
  const beat = setInterval(
    () => heartbeatIfActivity(limiter?.heldOnUsageLimit ? { waiting: 'usage limit' } : undefined),
    5_000,
  );
  try {
    const ticket = await limiter?.acquire({ inputTokens: estimateInput(req), outputTokens: req.maxTokens });
    try {
      const res = await provider.complete(req);
      limiter?.succeeded();
      const u = res.usage;
      ticket?.settle({ inputTokens: u.inputTokens + (u.cacheWriteTokens ?? 0), outputTokens: u.outputTokens });
      return res;
    } catch (e) {
      ticket?.settle({ inputTokens: 0, outputTokens: 0 });
      if (e instanceof LlmError && limiter) {
        if (e.usageLimit) limiter.usageLimitHit();
        else if (e.retryAfterMs) limiter.backOff(e.retryAfterMs);
      }
      throw e;
    }
  } finally {
    clearInterval(beat);
  }
}

/**
 * The temperature for the `attempt`th time one item is asked. A low-temperature request would repeat its
 * malformed answer (or its refusal) on every retry, so from the second attempt on the temperature rises
 * (+0.3 an attempt, up to 1).
 */
export function retryTemperature(temperature: number, attempt: number): number {
  return attempt > 1 ? Math.max(temperature, Math.min(1, 0.3 * (attempt - 1))) : temperature;
}

/**
 * The request for the `attempt`th time one item is put to the model by a caller that retries it itself
 * (the eval judge): from the second attempt on, a fresh question: the temperature rises as in
 * `retryTemperature` and the request id (so the seed derived from it) gets the attempt, so a seeded,
 * deterministic model is not asked the identical question again. The first attempt is the item's own request.
 */
export function askAgain(req: CompletionRequest, attempt: number): CompletionRequest {
  if (attempt <= 1) return req;
  return {
    ...req,
    temperature: retryTemperature(req.temperature, attempt),
    ...(req.requestId !== undefined && { requestId: `${req.requestId}#attempt-${attempt}` }),
  };
}

/** A JSON answer, or the model's refusal or unreadable output (its content failure) when there is none. */
export type JsonAnswer<T> =
  { ok: true; value: T; result: CompletionResult } | { ok: false; failure: LlmContentError; result?: CompletionResult };

/**
 * Complete once and parse structured JSON, returning a content failure (a refusal, no JSON, JSON that fails
 * the schema) instead of throwing it, for a caller that bounds its own attempts. Transport faults (429,
 * 5xx, network, timeouts) and bad settings throw classified Temporal failures, as in `complete`.
 */
export async function tryCompleteJson<T>(
  settings: ProviderSettings,
  req: CompletionRequest,
  schema: z.ZodType<T>,
): Promise<JsonAnswer<T>> {
  let res: CompletionResult;
  try {
    res = await callProvider(settings, req);
  } catch (e) {
    if (e instanceof LlmContentError) return { ok: false, failure: e };
    throw classifyLlmError(e);
  }
  try {
    return { ok: true, value: parseJsonOutput(res.text, schema), result: res };
  } catch (e) {
    if (e instanceof LlmContentError) return { ok: false, failure: e, result: res };
    throw classifyLlmError(e);
  }
}

/**
 * Complete and parse structured JSON; a malformed answer or a refusal is a retryable fault (sampling again
 * fixes it), retried by Temporal with the activity as a fresh question (`askAgain` of the activity's attempt:
 * a rising temperature and a new seed; with its first seed a seeded model, such as the local one at the
 * demo's 0.9, gave the identical malformed answer on every retry).
 */
export async function completeJson<T>(settings: ProviderSettings, req: CompletionRequest, schema: z.ZodType<T>) {
  const answer = await tryCompleteJson(settings, askAgain(req, activityAttempt()), schema);
  if (!answer.ok) throw classifyLlmError(answer.failure);
  return { value: answer.value, result: answer.result };
}
