import path from 'node:path';
import { PROJECT_ROOT } from '../util/project-paths';
import { createLocalLlamaProvider } from './local-llama';
import { ensureLocalModel } from './local-model-path';
import { createOpenAiCompatibleProvider } from './openai-compatible';
import { LlmError, type LlmProvider } from './provider';

export type ProviderConfig =
  | { kind: 'local'; /** GGUF path; default: the Gemma 3 270M file */ model?: string; contextSize?: number }
  | { kind: 'openai'; baseUrl: string; model: string; /** env var holding the key */ apiKeyEnv?: string; timeoutMs?: number };

/** Build the provider an experiment names. Config mistakes fail fast (non-retryable). */
export async function createProvider(cfg: ProviderConfig, toolsDir: string): Promise<LlmProvider> {
  if (cfg.kind === 'local') {
    // Relative paths in experiment files resolve against the checkout, like every other path.
    const modelPath = cfg.model ? path.resolve(PROJECT_ROOT, cfg.model) : await ensureLocalModel(toolsDir);
    return createLocalLlamaProvider({ modelPath, contextSize: cfg.contextSize });
  }
  let apiKey: string | undefined;
  if (cfg.apiKeyEnv) {
    apiKey = process.env[cfg.apiKeyEnv];
    if (!apiKey) {
      throw new LlmError(`environment variable ${cfg.apiKeyEnv} (provider.apiKeyEnv) is not set: export it with the API key for ${cfg.baseUrl}`, false);
    }
  }
  return createOpenAiCompatibleProvider({ baseUrl: cfg.baseUrl, model: cfg.model, apiKey, timeoutMs: cfg.timeoutMs });
}
