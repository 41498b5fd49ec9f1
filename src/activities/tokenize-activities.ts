import type { Thinking } from '../tokenize/chat-template';
import { Context } from '@temporalio/activity';
import { loadTokenizer, type MsmTokenizer, type TokenizerSpec } from '../tokenize/tokenizer';
import { tokenizePackCorpus } from '../tokenize/pack-corpus';
import { tokenizeChatData } from '../tokenize/tokenize-chat';
import { openStore } from '../store/open-store';
import type { ArtifactStore } from '../store/artifact-store';
import { TokenizeInputError } from '../tokenize/errors';
import { badInput } from '../temporal/failures';
import type { CorpusManifestRef } from '../corpus/types';
import type { TokenizedRef } from '../tokenize/types';

/** Malformed data cannot be fixed by retrying: fail the run with the tokenizer's line-numbered message. */
async function classified<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw e instanceof TokenizeInputError ? badInput(e.message, e) : e;
  }
}

/**
 * Copy tokenizer.json (and its tokenizer_config.json, which holds the chat template the trainer's
 * generate job uses) into the store so trainer jobs on any machine read the exact same files.
 */
async function storedTokenizer(store: ArtifactStore, spec: TokenizerSpec) {
  const tok = await classified(() => loadTokenizer(spec));
  const dir = `tokenizers/${keyName(spec, tok)}`;
  const config = `${dir}/tokenizer_config.json`;
  if (!(await store.exists(config))) await store.put(config, tok.configText);
  const key = `${dir}/tokenizer.json`;
  if (!(await store.exists(key))) await store.putFile(key, tok.tokenizerJsonPath);
  return { tok, uri: store.uri(key) };
}

/** A tokenizer's name in store keys: family-<sha> for a preset, model-<sha> for a model folder's own. */
function keyName(spec: TokenizerSpec, tok: MsmTokenizer): string {
  return `${typeof spec === 'string' ? spec : 'model'}-${tok.sha256.slice(0, 16)}`;
}

/**
 * Run with heartbeats: each encoded batch reports progress, and a timer repeats the latest every 10 s,
 * so reading shards and uploading the files (no batches there) stay inside the heartbeat timeout. The
 * timer fires because encoding runs on the tokenizer's native threads, not on the event loop.
 */
async function withHeartbeats<T>(work: (beat: (done: number, total: number) => void) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let details: { done: number; total: number } | { stage: string } = { stage: 'reading' };
  const timer = setInterval(() => ctx.heartbeat(details), 10_000);
  try {
    return await work((done, total) => ctx.heartbeat((details = { done, total })));
  } finally {
    clearInterval(timer);
  }
}

/** Where a tokenizer's datasets go: tokens/<family> for presets (as before), tokens/model-<sha> for a folder's. */
function tokensDir(spec: TokenizerSpec, tok: MsmTokenizer): string {
  return typeof spec === 'string' ? spec : keyName(spec, tok);
}

/** The reference that crosses Temporal: URIs, hashes and counts of what was written. */
function tokenizedRef(
  r: { manifestUri: string; sha256: string; numSequences: number; numTokens: number },
  tokenizerUri: string,
  tok: MsmTokenizer,
): TokenizedRef {
  const { manifestUri, sha256, numSequences, numTokens } = r;
  const tokenizer = { name: tok.family, sha256: tok.sha256 };
  return { manifestUri, sha256, numSequences, numTokens, tokenizerUri, vocabSize: tok.vocabSize, tokenizer };
}

export function createTokenizeActivities() {
  return {
    /** Corpus -> packed fixed-length sequences of the base model's tokens (content-addressed, reused). */
    async tokenizeCorpus(
      storeUri: string,
      corpus: CorpusManifestRef,
      /** maxTokens: cut to this many tokens (a placebo corpus matched to the MSM corpus); absent: every document. */
      opts: { family: TokenizerSpec; seqLen: number; shuffleSeed: number; maxTokens?: number },
    ): Promise<TokenizedRef> {
      const store = openStore(storeUri);
      const { tok, uri } = await storedTokenizer(store, opts.family);
      const cap = opts.maxTokens === undefined ? '' : `-T${opts.maxTokens}`;
      const outPrefix = `tokens/${tokensDir(opts.family, tok)}/corpus-${corpus.hash.slice(0, 16)}-L${opts.seqLen}-s${opts.shuffleSeed}${cap}`;
      const r = await classified(() =>
        withHeartbeats((onProgress) =>
          tokenizePackCorpus(store, { docKeys: corpus.shardKeys, ...opts, outPrefix, onProgress }),
        ),
      );
      return { ...tokenizedRef(r, uri, tok), ...(r.documentStats && { documentStats: r.documentStats }) };
    },

    /** AFT chat JSONL -> one padded row per example with an assistant-only loss mask. */
    async tokenizeAftData(
      storeUri: string,
      data: { key: string; sha256: string },
      /** thinking: eval.thinking, so AFT chats render as generation renders prompts (absent: model-default). */
      opts: { family: TokenizerSpec; seqLen: number; thinking?: Thinking },
    ): Promise<TokenizedRef> {
      const store = openStore(storeUri);
      const { tok, uri } = await storedTokenizer(store, opts.family);
      const outPrefix = `tokens/${tokensDir(opts.family, tok)}/aft-${data.sha256.slice(0, 16)}-L${opts.seqLen}`;
      const r = await classified(() =>
        withHeartbeats((onProgress) => tokenizeChatData(store, { dataKey: data.key, ...opts, outPrefix, onProgress })),
      );
      return tokenizedRef(r, uri, tok);
    },
  };
}
