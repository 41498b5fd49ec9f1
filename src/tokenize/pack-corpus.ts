import type { ArtifactStore } from '../store/artifact-store';
import { TokenizeInputError } from './errors';
import { parseJsonlRecords } from './jsonl';
import { MegatronWriter } from './megatron-writer';
import { existingPacked, type DocumentTokenStats, type PackedResult } from './packed-format';
import { seededPermutation } from './seeded-shuffle';
import { summarizeTokenCounts, tokenHistogramSvg } from './token-stats';
import { loadTokenizer, type TokenizerSpec } from './tokenizer';

export interface PackCorpusOptions {
  /** JSONL shards of {"id": string, "text": string, ...} records. */
  docKeys: string[];
  family: TokenizerSpec;
  seqLen: number;
  outPrefix: string;
  shuffleSeed: number;
  /**
   * Write at most this many tokens (eos and start tokens included): documents in shuffled order until the
   * budget, the last one cut so the total is exact. A placebo corpus is matched to the MSM corpus this way.
   */
  maxTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Documents per native encode call: large enough to use the tokenizer's threads, small enough to heartbeat. */
const BATCH = 256;

interface Doc {
  id: string;
  text: string;
}

async function readDocuments(store: ArtifactStore, keys: string[]): Promise<Doc[]> {
  const docs: Doc[] = [];
  for (const key of keys) {
    for (const { line, value } of parseJsonlRecords((await store.get(key)).toString('utf8'), store.uri(key))) {
      const r = value as Partial<Doc> | null;
      if (typeof r?.id !== 'string' || typeof r.text !== 'string') {
        throw new TokenizeInputError(`${store.uri(key)}:${line}: a document needs string "id" and "text"`);
      }
      docs.push({ id: r.id, text: r.text });
    }
  }
  return docs;
}

// Code-unit order (not localeCompare) so every machine sorts the same; text breaks id ties.
const byIdThenText = (a: Doc, b: Doc) =>
  a.id < b.id ? -1 : a.id > b.id ? 1 : a.text < b.text ? -1 : a.text > b.text ? 1 : 0;

export const DOCUMENT_TOKENS_FILE = 'document-tokens.jsonl';
export const TOKEN_SUMMARY_FILE = 'token-summary.json';
export const TOKEN_HISTOGRAM_FILE = 'token-lengths.svg';

/** Per-document token counts (eos and a family's start token excluded), their summary and histogram, stored before the manifest. */
async function writeDocumentStats(
  store: ArtifactStore,
  prefix: string,
  docs: Doc[],
  counts: Int32Array,
  family: string,
): Promise<DocumentTokenStats> {
  const lines: string[] = [];
  for (let i = 0; i < docs.length; i++) lines.push(JSON.stringify({ id: docs[i].id, tokens: counts[i] }));
  const summary = summarizeTokenCounts(counts);
  await store.put(`${prefix}/${DOCUMENT_TOKENS_FILE}`, lines.join('\n') + '\n');
  await store.put(`${prefix}/${TOKEN_SUMMARY_FILE}`, JSON.stringify({ tokenizer: family, ...summary }, null, 2) + '\n');
  await store.put(
    `${prefix}/${TOKEN_HISTOGRAM_FILE}`,
    tokenHistogramSvg(counts, `Corpus document lengths (${family} tokens)`),
  );
  return {
    documentTokensFile: DOCUMENT_TOKENS_FILE,
    summaryFile: TOKEN_SUMMARY_FILE,
    histogramFile: TOKEN_HISTOGRAM_FILE,
    summary,
  };
}

/**
 * Corpus -> a Megatron indexed dataset for next-token training: documents sorted by id, shuffled by a
 * seeded permutation (so shard order never matters), one sequence per document ending in eos (and, for
 * gemma3, starting with <bos>); the
 * trainer cuts the token stream every seqLen tokens. Also records each document's exact token count.
 * Returns the existing dataset if outPrefix already holds one.
 */
export async function tokenizePackCorpus(store: ArtifactStore, opts: PackCorpusOptions): Promise<PackedResult> {
  const existing = await existingPacked(store, opts.outPrefix);
  if (existing) return existing;
  const tok = await loadTokenizer(opts.family);
  const docs = await readDocuments(store, opts.docKeys);
  if (docs.length === 0)
    throw new TokenizeInputError(
      `no documents in ${opts.docKeys.length} shard(s): ${opts.docKeys.slice(0, 3).join(', ')}`,
    );
  docs.sort(byIdThenText);
  const order = seededPermutation(docs.length, opts.shuffleSeed);

  const counts = new Int32Array(docs.length);
  const used = new Uint8Array(docs.length);
  let budget = opts.maxTokens ?? Infinity;
  const writer = await MegatronWriter.create({ seqLen: opts.seqLen });
  try {
    for (let from = 0; from < docs.length && budget > 0; from += BATCH) {
      const to = Math.min(from + BATCH, docs.length);
      const texts: string[] = [];
      for (let i = from; i < to; i++) texts.push(docs[order[i]].text);
      const encoded = await tok.encodeBatch(texts);
      for (let k = 0; k < encoded.length && budget > 0; k++) {
        const ids = tok.docStartIds.length ? [...tok.docStartIds, ...encoded[k]] : encoded[k];
        // The eos takes one token of the budget; a document past it keeps only what fits.
        const kept = ids.length + 1 <= budget ? ids : Array.from(ids).slice(0, budget - 1);
        counts[order[from + k]] = kept.length - (ids.length - encoded[k].length);
        used[order[from + k]] = 1;
        await writer.appendDocument(kept, tok.eosId);
        budget -= kept.length + 1;
      }
      opts.onProgress?.(to, docs.length);
    }
    const kept = docs.flatMap((_, i) => (used[i] ? [i] : []));
    const stats = await writeDocumentStats(
      store,
      opts.outPrefix.replace(/\/+$/, ''),
      kept.map((i) => docs[i]),
      Int32Array.from(kept, (i) => Math.max(0, counts[i])),
      tok.family,
    );
    return await writer.finish(
      store,
      opts.outPrefix,
      {
        tokenizer: tok.family,
        tokenizerSha256: tok.sha256,
        padId: tok.padId,
        eosId: tok.eosId,
        vocabSize: tok.vocabSize,
        shuffleSeed: opts.shuffleSeed,
        numDocuments: kept.length,
      },
      stats,
    );
  } finally {
    await writer.dispose();
  }
}
