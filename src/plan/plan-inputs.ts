import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Experiment } from '../config/experiment-schema';
import { KNOWN_MODELS, TOKENIZER_VOCAB, knownModelKey, shapeFromHfConfig } from './models';
import { tokenizerLabel } from '../config/tokenizer-spec';
import { planExperiment, type ExperimentPlan, type PlanInputs } from './plan';

/** Prompt length assumed when the eval set cannot be read (its loader reports that problem itself). */
export const FALLBACK_PROMPT_TOKENS = 2048;
/**
 * English runs about 4 characters per token in these tokenizers; 3 over-counts on purpose, since a prompt
 * longer than planned is what runs out of memory. Each message adds its chat-template markers.
 */
const CHARS_PER_TOKEN = 3;
const TEMPLATE_TOKENS_PER_MESSAGE = 8;

type BaseModel = Experiment['baseModel'];

/** The base model's config.json cannot be read as a model shape: the experiment's problem, not a retry's. */
export class ModelConfigError extends Error {
  name = 'ModelConfigError';
}

/**
 * The model's shape: a random-init model is built from its fields; a pretrained one is read from the local
 * config.json, else looked up by name in the table of known models.
 */
export function resolveModel(b: BaseModel, baseDir: string): PlanInputs['model'] {
  if (b.init === 'random') return randomInitModel(b);
  const local = b.path && !/^hf:/i.test(b.path) ? path.resolve(baseDir, b.path) : undefined;
  const configFile = local ? path.join(local, 'config.json') : undefined;
  if (configFile && existsSync(configFile)) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (e) {
      throw new ModelConfigError(
        `baseModel.path: ${configFile} is not valid JSON (${(e as Error).message}); fix or replace the model's config.json`,
      );
    }
    try {
      return {
        shape: shapeFromHfConfig(json as Record<string, unknown>, configFile),
        label: knownModelKey(b.path!) ?? b.name,
        source: configFile,
      };
    } catch (e) {
      throw new ModelConfigError(`baseModel.path: ${(e as Error).message}`);
    }
  }
  const key = [b.name, b.path].flatMap((r) => (r ? [knownModelKey(r)] : [])).find(Boolean);
  if (key) return { shape: KNOWN_MODELS[key], label: key, source: `built-in shape of ${key}` };
  return {
    label: b.name,
    unknown:
      `model shape unknown (no ${configFile ?? 'baseModel.path'} here, and "${b.name}" is not one of ${Object.keys(KNOWN_MODELS).join(', ')}): ` +
      "no memory check; copy the model's config.json to baseModel.path on this machine, or name a known model",
  };
}

/** A random-init Llama as the trainer builds it: full multi-head attention, the tokenizer's vocabulary. */
function randomInitModel(b: BaseModel): PlanInputs['model'] {
  const shape = {
    hidden: b.hiddenSize,
    layers: b.numLayers,
    heads: b.numHeads,
    kvHeads: b.numHeads,
    headDim: Math.floor(b.hiddenSize / b.numHeads),
    intermediate: b.intermediateSize,
    vocab: randomInitVocab(b),
    tied: false,
  };
  return { shape, label: b.name, source: `random init (${tokenizerLabel(b.tokenizer)} vocabulary)` };
}

/** A preset's known vocabulary, or the ids a folder's tokenizer.json holds (the embedding rows the trainer makes). */
function randomInitVocab(b: BaseModel): number {
  const t = b.tokenizer === 'model' ? (b.path ? { path: b.path } : undefined) : b.tokenizer;
  if (t === undefined || typeof t === 'string') return TOKENIZER_VOCAB[t ?? 'llama3.1'];
  try {
    const j = JSON.parse(readFileSync(path.join(t.path, 'tokenizer.json'), 'utf8')) as {
      model?: { vocab?: Record<string, number> | [string, number][] };
      added_tokens?: { id: number }[];
    };
    const v = j.model?.vocab;
    const ids = [
      ...(Array.isArray(v) ? v.map((_, i) => i) : Object.values(v ?? {})),
      ...(j.added_tokens ?? []).map((a) => a.id),
    ];
    return ids.reduce((m, id) => Math.max(m, id + 1), 0);
  } catch {
    // Unreadable here: the check that loads the tokenizer names the problem.
    return TOKENIZER_VOCAB['llama3.1'];
  }
}

/** Tokens of the longest prompt in an eval-set JSONL, estimated from its characters; undefined when unreadable. */
export function longestPromptTokens(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return longestPromptTokensOf(text);
}

/** Tokens of the longest prompt in an eval-set JSONL text (see longestPromptTokens). */
export function longestPromptTokensOf(text: string): number | undefined {
  let longest = 0;
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    try {
      const messages = (JSON.parse(line) as { messages?: Array<{ content?: unknown }> }).messages ?? [];
      const chars = messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0), 0);
      longest = Math.max(longest, Math.ceil(chars / CHARS_PER_TOKEN) + TEMPLATE_TOKENS_PER_MESSAGE * messages.length);
    } catch {
      // A malformed line is the eval-set loader's to report, with its line number.
    }
  }
  return longest || undefined;
}

/** Where an experiment's relative paths resolve: baseDir, or the project root. */
export const experimentBaseDir = (x: Experiment, projectRoot: string) =>
  x.baseDir ? path.resolve(projectRoot, x.baseDir) : projectRoot;

/**
 * Plan an experiment with what this machine can read: the model's config.json and the eval prompts
 * (`promptsText`: the eval set's text as the run froze it, instead of the file here).
 */
export function planFromDisk(x: Experiment, baseDir: string, promptsText?: string): ExperimentPlan {
  if (x.eval.inspect) {
    // An Inspect task makes its prompts where it runs; the agentic-misalignment benchmark's run to ~3,000 tokens.
    const sized = { ...x, eval: { ...x.eval, maxNewTokens: x.eval.inspect.maxTokens } };
    return planExperiment(sized, { model: resolveModel(x.baseModel, baseDir), promptTokens: INSPECT_PROMPT_TOKENS });
  }
  const promptTokens =
    (promptsText !== undefined
      ? longestPromptTokensOf(promptsText)
      : longestPromptTokens(path.resolve(baseDir, x.eval.prompts!))) ?? FALLBACK_PROMPT_TOKENS;
  return planExperiment(x, { model: resolveModel(x.baseModel, baseDir), promptTokens });
}

/** What an Inspect task's prompts are planned at: the benchmark's longest (~3,000 tokens) with room to spare. */
export const INSPECT_PROMPT_TOKENS = 3500;
