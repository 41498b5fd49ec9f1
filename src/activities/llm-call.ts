import { Context } from '@temporalio/activity';
import type { z } from 'zod';
import type { ProviderSettings } from '../config/experiment-schema';
import { createProvider } from '../llm/create-provider';
import { parseJsonOutput } from '../llm/json-output';
import type { CompletionRequest, CompletionResult, LlmProvider } from '../llm/provider';
import { canonicalJson } from '../util/hash';
import { TOOLS_DIR } from '../util/project-paths';
import { usageOf, type Usage } from '../cost/usage';
import { classifyLlmError } from './failures';

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
  return settings.kind === 'local' ? `local:${settings.model ?? 'gemma-3-270m-q4_k_m'}` : `openai:${settings.model}`;
}

/** What one call cost, by the provider's price table (none for the local model). */
export function usageFor(settings: ProviderSettings, res: CompletionResult): Usage {
  return usageOf(res.usage, settings.kind === 'openai' ? settings.price : undefined);
}

/** Complete once, heartbeating around the call; provider errors become classified Temporal failures. */
export async function complete(settings: ProviderSettings, req: CompletionRequest): Promise<CompletionResult> {
  const provider = await providerFor(settings).catch((e) => {
    throw classifyLlmError(e);
  });
  // Heartbeat while the call is in flight: a slow generation is not a dead worker.
  heartbeatIfActivity();
  const beat = setInterval(() => heartbeatIfActivity(), 5_000);
  try {
    return await provider.complete(req);
  } catch (e) {
    throw classifyLlmError(e);
  } finally {
    clearInterval(beat);
  }
}

/** Complete and parse structured JSON; a malformed answer is a retryable fault (sampling again fixes it). */
export async function completeJson<T>(settings: ProviderSettings, req: CompletionRequest, schema: z.ZodType<T>) {
  const res = await complete(settings, req);
  try {
    return { value: parseJsonOutput(res.text, schema), result: res };
  } catch (e) {
    throw classifyLlmError(e);
  }
}

export function heartbeatIfActivity(details?: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not inside an activity (unit tests call these helpers directly)
  }
}
