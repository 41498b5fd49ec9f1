/**
 * Which tokenizer an experiment uses, with no native or Node imports so workflows can name it. The loader
 * is src/tokenize/tokenizer.ts.
 */
export type TokenizerFamily = 'llama3.1' | 'qwen2.5' | 'qwen3' | 'gemma3';
export const TOKENIZER_FAMILIES: readonly TokenizerFamily[] = ['llama3.1', 'qwen2.5', 'qwen3', 'gemma3'];

/**
 * baseModel.tokenizer once checked (src/experiment/check-experiment.ts): a preset family, or a folder
 * (absolute path) holding a model's own tokenizer.json and chat template (tokenizer: model, or {path}).
 */
export type TokenizerSpec = TokenizerFamily | { path: string };

/** baseModel.tokenizer as written: a preset, "model" (baseModel.path's folder) or {path}. */
export type TokenizerSetting = TokenizerFamily | 'model' | { path: string };

/** How a tokenizer is named in messages and manifests: the family, or model:<folder name>. */
export function tokenizerLabel(spec: TokenizerSetting): string {
  if (typeof spec === 'string') return spec === 'model' ? 'model' : spec;
  const parts = spec.path.split(/[\\/]+/).filter(Boolean);
  return `model:${parts[parts.length - 1] ?? spec.path}`;
}

/**
 * The tokenizer of a checked experiment. "model" is resolved to {path} by the check, so meeting it here
 * means the experiment skipped the check: refused rather than guessed.
 */
export function tokenizerSpec(setting: TokenizerSetting): TokenizerSpec {
  if (setting === 'model')
    throw new Error(
      'baseModel.tokenizer "model" was not resolved to a folder: run the experiment through msm validate/start',
    );
  return setting;
}
