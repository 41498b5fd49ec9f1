import path from 'node:path';
import { hostProblem, keyEnvProblem } from '../security/allowlist';
import { PROJECT_ROOT } from '../util/project-paths';
import { createAnthropicProvider } from './anthropic';
import { createLocalLlamaProvider } from './local-llama';
import { ensureLocalModel } from './local-model-path';
import { createOpenAiCompatibleProvider } from './openai-compatible';
import { LlmError, type LlmProvider } from './provider';

export type ProviderConfig =
  | { kind: 'local'; /** GGUF path; default: the Gemma 3 270M file */ model?: string; contextSize?: number }
  | {
      kind: 'openai';
      baseUrl: string;
      model: string;
      /** env var holding the key */ apiKeyEnv?: string;
      timeoutMs?: number;
    }
  | { kind: 'anthropic'; model: string; apiKeyEnv?: string; baseUrl?: string; timeoutMs?: number };

/** Build the provider an experiment names. Config mistakes fail fast (non-retryable). */
export async function createProvider(cfg: ProviderConfig, toolsDir: string): Promise<LlmProvider> {
  if (cfg.kind === 'local') {
    // Relative paths in experiment files resolve against the checkout, like every other path.
    const modelPath = cfg.model ? path.resolve(PROJECT_ROOT, cfg.model) : await ensureLocalModel(toolsDir);
    return createLocalLlamaProvider({ modelPath, contextSize: cfg.contextSize });
  }
  refuseHost(cfg.baseUrl);
  if (cfg.kind === 'anthropic') {
    const apiKey = apiKeyFrom(cfg.apiKeyEnv ?? 'ANTHROPIC_API_KEY', cfg.baseUrl ?? 'the Anthropic API')!;
    return createAnthropicProvider({ model: cfg.model, apiKey, baseUrl: cfg.baseUrl, timeoutMs: cfg.timeoutMs });
  }
  const apiKey = apiKeyFrom(cfg.apiKeyEnv, cfg.baseUrl);
  return createOpenAiCompatibleProvider({ baseUrl: cfg.baseUrl, model: cfg.model, apiKey, timeoutMs: cfg.timeoutMs });
}

/**
 * The key from the env var the config names (none named: no key). A variable off the workers' allowlist is
 * refused unread, and a missing key fails fast.
 */
export function apiKeyFrom(envVar: string | undefined, endpoint: string, field = 'provider'): string | undefined {
  if (!envVar) return undefined;
  const refused = keyEnvProblem(`${field}.apiKeyEnv`, envVar);
  if (refused) throw new LlmError(refused, false);
  const key = process.env[envVar];
  if (!key)
    throw new LlmError(
      `environment variable ${envVar} (provider.apiKeyEnv) is not set: export it with the API key for ${endpoint}`,
      false,
    );
  return key;
}

/** A host off the workers' allowlist is refused before anything is sent to it (undefined: the provider's own). */
export function refuseHost(baseUrl: string | undefined, field = 'provider'): void {
  const refused = baseUrl === undefined ? undefined : hostProblem(`${field}.baseUrl`, baseUrl);
  if (refused) throw new LlmError(refused, false);
}
