import type { ProviderSettings } from '../../config/experiment-schema';
import { apiKeyFrom, refuseHost } from '../create-provider';
import { LlmError } from '../provider';
import { createAnthropicBatchClient } from './anthropic-batch';
import type { BatchClient } from './batch-client';
import { createOpenAiBatchClient } from './openai-batch';

/** The batch API of the configured provider; the local model has none (the schema refuses batch for it). */
export function createBatchClient(cfg: ProviderSettings): BatchClient {
  if (cfg.kind !== 'local') refuseHost(cfg.baseUrl);
  if (cfg.kind === 'anthropic') {
    const apiKey = apiKeyFrom(cfg.apiKeyEnv, cfg.baseUrl ?? 'the Anthropic API')!;
    return createAnthropicBatchClient({ model: cfg.model, apiKey, baseUrl: cfg.baseUrl, timeoutMs: cfg.timeoutMs });
  }
  if (cfg.kind === 'openai') {
    return createOpenAiBatchClient({
      baseUrl: cfg.baseUrl,
      model: cfg.model,
      apiKey: apiKeyFrom(cfg.apiKeyEnv, cfg.baseUrl),
      timeoutMs: cfg.timeoutMs,
    });
  }
  throw new LlmError(
    'generation.batch needs a provider with a batch API (kind "anthropic" or "openai"); set batch: false for the local model',
    false,
  );
}
