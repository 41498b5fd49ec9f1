import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { TokenizeInputError } from './errors';
import { loadTokenizer, type TokenizerFamily } from './tokenizer';

/** Hugging Face model_type values of each family's models: a model of another family's type is refused. */
const MODEL_TYPES: Record<TokenizerFamily, string[]> = {
  'llama3.1': ['llama'],
  'qwen2.5': ['qwen2', 'qwen2_moe'],
  qwen3: ['qwen3', 'qwen3_moe'],
  gemma3: ['gemma3', 'gemma3_text'],
};

/**
 * A baseModel.path as the trainer host should read it: s3:// and hf: ids unchanged, a local path made
 * absolute against baseDir (the trainer runs in its own folder, so a relative path would miss).
 */
export function resolveModelPath(p: string, baseDir: string): string {
  if (p.startsWith('s3://') || p.startsWith('hf:')) return p;
  return path.resolve(baseDir, p);
}

interface ModelConfig {
  model_type?: unknown;
  vocab_size?: unknown;
  text_config?: { model_type?: unknown; vocab_size?: unknown };
}

/** The config.json of a local model folder, or null when the path is not one here (s3://, hf:, .gguf, remote host). */
function readConfig(modelPath: string): ModelConfig | null {
  const file = path.join(modelPath, 'config.json');
  if (!existsSync(modelPath) || !statSync(modelPath).isDirectory() || !existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ModelConfig;
  } catch (e) {
    throw new TokenizeInputError(
      `baseModel.path: ${file} is not valid JSON (${(e as Error).message}); fix or re-download the model`,
    );
  }
}

/**
 * Refuse a tokenizer whose ids would not fit the model's embedding rows, or whose family is plainly not
 * the model's (by config.json model_type), before anything is generated or trained. Multimodal configs
 * (Gemma 3 4B+) keep the text model's numbers in text_config.
 */
export async function checkTokenizerFitsModel(family: TokenizerFamily, modelPath: string): Promise<void> {
  const cfg = readConfig(modelPath);
  if (!cfg) return;
  const types = [cfg.model_type, cfg.text_config?.model_type].filter((t): t is string => typeof t === 'string');
  const owner = (Object.keys(MODEL_TYPES) as TokenizerFamily[]).find((f) =>
    types.some((t) => MODEL_TYPES[f].includes(t)),
  );
  if (owner && owner !== family) {
    throw new TokenizeInputError(
      `baseModel.tokenizer is ${family} but ${modelPath} is a ${types.join('/')} model: set baseModel.tokenizer to ${owner} (the tokenizer the model was trained with)`,
    );
  }
  const modelVocab = cfg.text_config?.vocab_size ?? cfg.vocab_size;
  if (typeof modelVocab !== 'number') return;
  const tokVocab = (await loadTokenizer(family)).vocabSize;
  if (tokVocab > modelVocab) {
    throw new TokenizeInputError(
      `baseModel.tokenizer ${family} has ${tokVocab} token ids but ${modelPath} has ${modelVocab} embedding rows (config.json vocab_size): its ids would not fit; pick the model's own tokenizer family`,
    );
  }
}
