import type { ArtifactStore } from '../store/artifact-store';
import { ChatRenderError, TokenizeInputError } from './errors';
import { parseJsonlRecords } from './jsonl';
import { existingPacked, type PackedResult } from './packed-format';
import { PackedWriter } from './packed-writer';
import { loadTokenizer, type ChatMessage, type Thinking, type TokenizerSpec } from './tokenizer';

export interface TokenizeChatOptions {
  /** JSONL of {"messages": [{"role", "content"}, ...]} examples. */
  dataKey: string;
  family: TokenizerSpec;
  seqLen: number;
  outPrefix: string;
  /**
   * eval.thinking: render each example as generation renders its prompt (see renderChatText). On or off
   * writes under `<outPrefix>-think-<mode>`, so data tokenized another way is never reused; absent or
   * model-default: outPrefix, the rendering before eval.thinking existed.
   */
  thinking?: Thinking;
  onProgress?: (done: number, total: number) => void;
}

const BATCH = 256;

function readExamples(text: string, where: string): { line: number; messages: ChatMessage[] }[] {
  return parseJsonlRecords(text, where).map(({ line, value }) => {
    const msgs = (value as { messages?: unknown } | null)?.messages;
    const ok =
      Array.isArray(msgs) &&
      msgs.length > 0 &&
      msgs.every((m) => typeof m?.role === 'string' && typeof m?.content === 'string');
    if (!ok)
      throw new TokenizeInputError(
        `${where}:${line}: an example needs "messages": [{"role": string, "content": string}, ...]`,
      );
    const messages = (msgs as ChatMessage[]).map((m) => ({ role: m.role, content: m.content }));
    if (!messages.some((m) => m.role === 'assistant'))
      throw new TokenizeInputError(`${where}:${line}: example has no assistant turn, so nothing to train on`);
    return { line, messages };
  });
}

/**
 * AFT chat data -> one row per example, in input order (the trainer draws nested fraction subsets
 * itself): cut at seqLen, padded, with a loss mask on assistant turns only. Idempotent per outPrefix.
 */
export async function tokenizeChatData(store: ArtifactStore, opts: TokenizeChatOptions): Promise<PackedResult> {
  const thinking = opts.thinking ?? 'model-default';
  const outPrefix = thinking === 'model-default' ? opts.outPrefix : `${opts.outPrefix}-think-${thinking}`;
  const existing = await existingPacked(store, outPrefix);
  if (existing) return existing;
  const tok = await loadTokenizer(opts.family);
  const where = store.uri(opts.dataKey);
  const examples = readExamples((await store.get(opts.dataKey)).toString('utf8'), where);
  if (examples.length === 0) throw new TokenizeInputError(`${where}: no examples`);

  const writer = await PackedWriter.create({ seqLen: opts.seqLen, padId: tok.padId, withLossMask: true });
  try {
    for (let from = 0; from < examples.length; from += BATCH) {
      const to = Math.min(from + BATCH, examples.length);
      const batch = examples.slice(from, to);
      const rendered = await tok
        .renderChatBatch(
          batch.map((e) => e.messages),
          thinking,
        )
        .catch((e: unknown) => {
          throw e instanceof ChatRenderError
            ? new TokenizeInputError(`${where}:${batch[e.index].line}: ${e.reason}`)
            : e;
        });
      for (const r of rendered) await writer.appendRow(r.ids, r.lossMask);
      opts.onProgress?.(to, examples.length);
    }
    return await writer.finish(store, outPrefix, {
      tokenizer: tok.family,
      tokenizerSha256: tok.sha256,
      padId: tok.padId,
      eosId: tok.eosId,
      vocabSize: tok.vocabSize,
      shuffleSeed: null,
      numDocuments: examples.length,
    });
  } finally {
    await writer.dispose();
  }
}
