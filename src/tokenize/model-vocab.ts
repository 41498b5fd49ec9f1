import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { TokenizeInputError } from './errors';
import { cachedModelFolder, DataRefError } from '../data/hf-data';
import { loadTokenizer, tokenizerLabel, type TokenizerFamily } from './tokenizer';
import type { TokenizerSetting, TokenizerSpec } from '../config/tokenizer-spec';

/** Hugging Face model_type values of each family's models: a model of another family's type is refused. */
const MODEL_TYPES: Record<TokenizerFamily, string[]> = {
  'llama3.1': ['llama'],
  'qwen2.5': ['qwen2', 'qwen2_moe'],
  qwen3: ['qwen3', 'qwen3_moe'],
  gemma3: ['gemma3', 'gemma3_text'],
};

/**
 * baseModel.tokenizer as the worker loads it: a preset unchanged; "model" the baseModel.path folder
 * (absolute); {path} made absolute against baseDir. "model" needs a folder on this machine: an s3://, hf:
 * or .gguf model path is refused with the fix.
 */
export function resolveTokenizer(t: TokenizerSetting, modelPath: string | undefined, baseDir: string): TokenizerSpec {
  if (typeof t !== 'string') return { path: path.resolve(baseDir, t.path) };
  if (t !== 'model') return t;
  // A Hub model: its tokenizer files from the local Hugging Face cache (nothing is downloaded).
  if (modelPath?.startsWith('hf:')) {
    try {
      return { path: cachedModelFolder(modelPath, 'baseModel.tokenizer "model"') };
    } catch (e) {
      if (e instanceof DataRefError) throw new TokenizeInputError(e.message);
      throw e;
    }
  }
  if (modelPath === undefined || modelPath.startsWith('s3://') || /\.gguf$/i.test(modelPath))
    throw new TokenizeInputError(
      `baseModel.tokenizer "model" reads tokenizer.json and the chat template from the baseModel.path folder on this machine, but baseModel.path is ${modelPath ?? 'unset'}: put the model's tokenizer files (tokenizer.json, tokenizer_config.json or chat_template.jinja) in a local folder and set tokenizer: {path: <folder>}`,
    );
  return { path: modelPath };
}

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
 * The presets' id counts (tokenizer.getVocabSize with added tokens), so checking a preset against a model
 * does not build its BPE (seconds, in every `msm validate` and experiment load). tests/integration/tokenize
 * checks each against the loaded tokenizer.
 */
export const PRESET_VOCAB_SIZES: Readonly<Record<TokenizerFamily, number>> = {
  'llama3.1': 128256,
  'qwen2.5': 151665,
  qwen3: 151669,
  gemma3: 262144,
};

/**
 * Refuse a tokenizer whose ids would not fit the model's embedding rows, or whose family is plainly not
 * the model's (by config.json model_type), before anything is generated or trained. Multimodal configs
 * (Gemma 3 4B+) keep the text model's numbers in text_config.
 */
export async function checkTokenizerFitsModel(spec: TokenizerSpec, modelPath: string): Promise<void> {
  const cfg = readConfig(modelPath);
  if (!cfg) return;
  const types = [cfg.model_type, cfg.text_config?.model_type].filter((t): t is string => typeof t === 'string');
  const owner = (Object.keys(MODEL_TYPES) as TokenizerFamily[]).find((f) =>
    types.some((t) => MODEL_TYPES[f].includes(t)),
  );
  const hasOwn = existsSync(path.join(modelPath, 'tokenizer.json'));
  const own = hasOwn ? ", or to model (the folder's own tokenizer.json and chat template)" : '';
  // A folder tokenizer is the user's explicit choice: only its size is checked below.
  if (typeof spec === 'string' && owner && owner !== spec)
    throw new TokenizeInputError(
      `baseModel.tokenizer is ${spec} but ${modelPath} is a ${types.join('/')} model: set baseModel.tokenizer to ${owner} (the tokenizer the model was trained with)${own}`,
    );
  if (typeof spec === 'string' && !owner && types.length > 0 && hasOwn)
    throw new TokenizeInputError(
      `baseModel.tokenizer is ${spec} but ${modelPath} is a ${types.join('/')} model, which no preset fits: set baseModel.tokenizer to model (the folder's own tokenizer.json and chat template)`,
    );
  const modelVocab = cfg.text_config?.vocab_size ?? cfg.vocab_size;
  if (typeof modelVocab !== 'number') return;
  const tokVocab = typeof spec === 'string' ? PRESET_VOCAB_SIZES[spec] : (await loadTokenizer(spec)).vocabSize;
  if (tokVocab > modelVocab) {
    throw new TokenizeInputError(
      `baseModel.tokenizer ${tokenizerLabel(spec)} has ${tokVocab} token ids but ${modelPath} has ${modelVocab} embedding rows (config.json vocab_size): its ids would not fit; use the model's own tokenizer (tokenizer: model, or its preset family)`,
    );
  }
}
