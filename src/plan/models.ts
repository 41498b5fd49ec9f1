/**
 * Decoder shapes the memory planner needs, and parameter counts derived from them. A shape comes from a
 * local Hugging Face config.json, else from the table of the paper's models, else from the random-init
 * fields of the experiment.
 */

export interface ModelShape {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  tied: boolean;
  /** Biases on q/k/v (Qwen2.5). */
  qkvBias?: boolean;
  /** RMSNorm on each query and key head (Qwen3, Gemma 3): more saved activations and a few parameters. */
  qkNorm?: boolean;
}

/** The paper's models, from their published config.json files. */
export const KNOWN_MODELS: Readonly<Record<string, ModelShape>> = {
  'llama-3.1-8b': {
    hidden: 4096,
    layers: 32,
    heads: 32,
    kvHeads: 8,
    headDim: 128,
    intermediate: 14336,
    vocab: 128256,
    tied: false,
  },
  'qwen2.5-32b': {
    hidden: 5120,
    layers: 64,
    heads: 40,
    kvHeads: 8,
    headDim: 128,
    intermediate: 27648,
    vocab: 152064,
    tied: false,
    qkvBias: true,
  },
  'qwen3-32b': {
    hidden: 5120,
    layers: 64,
    heads: 64,
    kvHeads: 8,
    headDim: 128,
    intermediate: 25600,
    vocab: 151936,
    tied: false,
    qkNorm: true,
  },
  'qwen2.5-7b': {
    hidden: 3584,
    layers: 28,
    heads: 28,
    kvHeads: 4,
    headDim: 128,
    intermediate: 18944,
    vocab: 152064,
    tied: false,
    qkvBias: true,
  },
  'gemma3-270m': {
    hidden: 640,
    layers: 18,
    heads: 4,
    kvHeads: 1,
    headDim: 256,
    intermediate: 2048,
    vocab: 262144,
    tied: true,
    qkNorm: true,
  },
};

/** Separators and case differ between names ("Meta-Llama-3.1-8B-Instruct", "gemma-3-270m"): compare without them. */
const squash = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9.]/g, '')
    .replace(/^meta(?=llama)/, '');

/**
 * The table entry a model name, a path's last folder or an `hf:org/name` id refers to: the longest key
 * that starts the squashed name, so "Qwen3-32B-Instruct" is qwen3-32b and "Qwen2.5-7B" is not qwen2.5-72b.
 */
export function knownModelKey(ref: string): string | undefined {
  const last = ref.replace(/^hf:/i, '').replace(/\/+$/, '').split('/').pop() ?? '';
  const name = squash(last);
  const keys = Object.keys(KNOWN_MODELS).filter((k) => name.startsWith(squash(k)));
  return keys.sort((a, b) => b.length - a.length)[0];
}

type HfConfig = Record<string, unknown>;

/** A decoder shape from a Hugging Face config.json (Gemma 3 multimodal configs nest it under text_config). */
export function shapeFromHfConfig(config: HfConfig, source: string): ModelShape {
  const c =
    typeof config.text_config === 'object' && config.text_config
      ? { ...config, ...(config.text_config as HfConfig) }
      : config;
  const num = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new Error(`${source}: "${key}" missing or not a positive number; the memory planner needs it`);
    return v;
  };
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  const type = String(c.model_type ?? '');
  return {
    hidden,
    layers: num('num_hidden_layers'),
    heads,
    kvHeads: num('num_key_value_heads', heads),
    headDim: num('head_dim', hidden / heads),
    intermediate: num('intermediate_size'),
    vocab: num('vocab_size'),
    // transformers' default for tie_word_embeddings is true when a config leaves it out.
    tied: c.tie_word_embeddings === undefined ? true : c.tie_word_embeddings === true,
    qkvBias: c.attention_bias === true || /^qwen2/.test(type),
    qkNorm: /^(qwen3|gemma3)/.test(type),
  };
}

/** Parameters of one decoder layer: attention, SwiGLU MLP, two norms (and q/k norms, q/k/v biases). */
export function layerParams(m: ModelShape): number {
  const q = m.heads * m.headDim;
  const kv = m.kvHeads * m.headDim;
  const attention =
    m.hidden * q * 2 + m.hidden * kv * 2 + (m.qkvBias ? q + 2 * kv : 0) + (m.qkNorm ? 2 * m.headDim : 0);
  return attention + 3 * m.hidden * m.intermediate + 2 * m.hidden;
}

export function paramCount(m: ModelShape): number {
  const embeddings = m.vocab * m.hidden * (m.tied ? 1 : 2);
  return embeddings + m.layers * layerParams(m) + m.hidden;
}

/** LoRA parameters with rank r on q/k/v/o/gate/up/down of every layer: r × (in + out) per matrix. */
export function loraParams(m: ModelShape, r: number): number {
  const q = m.heads * m.headDim;
  const kv = m.kvHeads * m.headDim;
  const h = m.hidden;
  const f = m.intermediate;
  const perLayer = h + q + 2 * (h + kv) + (q + h) + 2 * (h + f) + (f + h);
  return m.layers * r * perLayer;
}

/** Vocabulary of the tokenizers a random-init model is built for (the model's embedding rows). */
export const TOKENIZER_VOCAB: Readonly<Record<string, number>> = {
  'llama3.1': 128256,
  'qwen2.5': 151665,
  qwen3: 151669,
};
