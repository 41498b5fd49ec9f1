import type { ArtifactStore } from '../store/artifact-store';
import { TokenizeInputError } from './errors';
import { parseJsonl } from './jsonl';
import { existingPacked, type PackedResult } from './packed-format';
import { PackedWriter } from './packed-writer';
import { seededPermutation } from './seeded-shuffle';
import { loadTokenizer, type TokenizerFamily } from './tokenizer';

export interface PackCorpusOptions {
  /** JSONL shards of {"id": string, "text": string, ...} records. */
  docKeys: string[];
  family: TokenizerFamily;
  seqLen: number;
  outPrefix: string;
  shuffleSeed: number;
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
    for (const { line, value } of parseJsonl((await store.get(key)).toString('utf8'), store.uri(key))) {
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
const byIdThenText = (a: Doc, b: Doc) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.text < b.text ? -1 : a.text > b.text ? 1 : 0);

/**
 * Corpus -> fixed-length rows for next-token training: documents sorted by id, shuffled by a seeded
 * permutation (so shard order never matters), each followed by eos, concatenated and cut every seqLen
 * tokens; the last row is padded. Returns the existing dataset if outPrefix already holds one.
 */
export async function tokenizePackCorpus(store: ArtifactStore, opts: PackCorpusOptions): Promise<PackedResult> {
  const existing = await existingPacked(store, opts.outPrefix);
  if (existing) return existing;
  const tok = await loadTokenizer(opts.family);
  const docs = await readDocuments(store, opts.docKeys);
  if (docs.length === 0) throw new TokenizeInputError(`no documents in ${opts.docKeys.length} shard(s): ${opts.docKeys.slice(0, 3).join(', ')}`);
  docs.sort(byIdThenText);
  const order = seededPermutation(docs.length, opts.shuffleSeed);
  const eos = [tok.eosId];

  const writer = await PackedWriter.create({ seqLen: opts.seqLen, padId: tok.padId, withLossMask: false });
  try {
    for (let from = 0; from < docs.length; from += BATCH) {
      const to = Math.min(from + BATCH, docs.length);
      const texts: string[] = [];
      for (let i = from; i < to; i++) texts.push(docs[order[i]].text);
      for (const ids of await tok.encodeBatch(texts)) {
        await writer.appendStream(ids);
        await writer.appendStream(eos);
      }
      opts.onProgress?.(to, docs.length);
    }
    return await writer.finish(store, opts.outPrefix, {
      tokenizer: opts.family,
      tokenizerSha256: tok.sha256,
      padId: tok.padId,
      eosId: tok.eosId,
      vocabSize: tok.vocabSize,
      shuffleSeed: opts.shuffleSeed,
      numDocuments: docs.length,
    });
  } finally {
    await writer.dispose();
  }
}
