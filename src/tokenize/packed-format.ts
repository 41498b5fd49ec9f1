import { createHash } from 'node:crypto';
import { sha256Hex } from '../util/hash';
import os from 'node:os';
import type { ArtifactStore } from '../store/artifact-store';
import { decodeIndex, type MegatronIndex } from './megatron-index';

/**
 * The on-disk contracts read by the Python trainer (trainer/msm_trainer/data.py). A folder holds
 * manifest.json (written last: its presence marks the dataset complete) and, by format:
 *
 * msm-packed-v1 (AFT chat data: one example per row)
 *   tokens.bin     int32 little-endian, numSequences * seqLen, row-major
 *   loss_mask.bin  uint8, same shape: 1 where the token is a training target
 *   lengths.bin    int32 little-endian, one per row: tokens before padding
 *
 * msm-megatron-v1 (packed corpora)
 *   tokens.bin + tokens.idx  a Megatron-LM MMapIndexedDataset (megatron-index.ts): one int32 sequence
 *                  per document, each ending in eos, in shuffled order. Training rows are this token
 *                  stream cut every seqLen tokens (numSequences = ceil(numTokens / seqLen)), the last row
 *                  padded; Megatron-LM itself can read the pair as it is.
 */
export const PACKED_FORMAT = 'msm-packed-v1';
export const MEGATRON_FORMAT = 'msm-megatron-v1';
export type DatasetFormat = typeof PACKED_FORMAT | typeof MEGATRON_FORMAT;
export const TOKENS_FILE = 'tokens.bin';
export const INDEX_FILE = 'tokens.idx';
export const LOSS_MASK_FILE = 'loss_mask.bin';
export const LENGTHS_FILE = 'lengths.bin';
export const MANIFEST_FILE = 'manifest.json';

if (os.endianness() !== 'LE') throw new Error('msm-packed-v1 writes typed arrays as-is and needs a little-endian host');

/** Per-document token counts of a packed corpus, written beside the data (not part of the dataset hash). */
export interface DocumentTokenStats {
  /** JSONL, one {"id", "tokens"} per document in id order; tokens exclude the eos separator. */
  documentTokensFile: string;
  /** token-summary.json: the summary below, as a file. */
  summaryFile: string;
  /** SVG histogram of document lengths in tokens. */
  histogramFile: string;
  summary: TokenSummary;
}

export interface TokenSummary {
  documents: number;
  totalTokens: number;
  min: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
}

export interface PackedManifest {
  format: DatasetFormat;
  /** The preset family, or model:<folder name> for a model folder's own tokenizer. */
  tokenizer: string;
  tokenizerSha256: string;
  seqLen: number;
  numSequences: number;
  /** Real (non-pad) tokens. */
  numTokens: number;
  numDocuments: number;
  /** Rows cut short at seqLen (chat data; always 0 for packed corpora, which split documents across rows). */
  numTruncated: number;
  tokensFile: typeof TOKENS_FILE;
  /** Megatron .idx (msm-megatron-v1 only). */
  indexFile?: typeof INDEX_FILE | null;
  lossMaskFile: typeof LOSS_MASK_FILE | null;
  lengthsFile: typeof LENGTHS_FILE | null;
  padId: number;
  eosId: number;
  vocabSize: number;
  /** Document shuffle seed; null where input order is kept (chat data). */
  shuffleSeed: number | null;
  /** File name -> sha256 of its bytes (the data files only). */
  files: Record<string, string>;
  /** Packed corpora written since msm-megatron-v1. */
  documentStats?: DocumentTokenStats;
  /** Content hash of the dataset: see datasetSha256. */
  sha256: string;
}

/**
 * sha256 of the UTF-8 text "<format>\nseqLen=<n>\ntokenizer=<sha>\n" followed by "<name> <sha>\n"
 * for each data file in name order. Simple enough to recompute in Python.
 */
export function datasetSha256(m: Pick<PackedManifest, 'format' | 'seqLen' | 'tokenizerSha256' | 'files'>): string {
  let s = `${m.format}\nseqLen=${m.seqLen}\ntokenizer=${m.tokenizerSha256}\n`;
  for (const name of Object.keys(m.files).sort()) s += `${name} ${m.files[name]}\n`;
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

export function manifestKeyOf(outPrefix: string): string {
  return `${outPrefix.replace(/\/+$/, '')}/${MANIFEST_FILE}`;
}

export function parseManifest(json: string, where: string): PackedManifest {
  const m = JSON.parse(json) as PackedManifest;
  if (m.format !== PACKED_FORMAT && m.format !== MEGATRON_FORMAT) {
    throw new Error(`${where}: format ${String(m.format)}, expected ${PACKED_FORMAT} or ${MEGATRON_FORMAT}`);
  }
  return m;
}

export interface PackedResult {
  manifestKey: string;
  manifestUri: string;
  sha256: string;
  numSequences: number;
  numTokens: number;
  numDocuments: number;
  /** Where the per-document counts and histogram lie (packed corpora since msm-megatron-v1). */
  documentStats?: { documentTokensUri: string; summaryUri: string; histogramUri: string; summary: TokenSummary };
}

/** The idempotency check: a complete dataset at outPrefix is returned as-is. */
export async function existingPacked(store: ArtifactStore, outPrefix: string): Promise<PackedResult | null> {
  const manifestKey = manifestKeyOf(outPrefix);
  if (!(await store.exists(manifestKey))) return null;
  const m = parseManifest((await store.get(manifestKey)).toString('utf8'), store.uri(manifestKey));
  return resultOf(store, manifestKey, m);
}

export function resultOf(store: ArtifactStore, manifestKey: string, m: PackedManifest): PackedResult {
  const dir = manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1);
  const st = m.documentStats;
  return {
    ...(st && {
      documentStats: {
        documentTokensUri: store.uri(dir + st.documentTokensFile),
        summaryUri: store.uri(dir + st.summaryFile),
        histogramUri: store.uri(dir + st.histogramFile),
        summary: st.summary,
      },
    }),
    manifestKey,
    manifestUri: store.uri(manifestKey),
    sha256: m.sha256,
    numSequences: m.numSequences,
    numTokens: m.numTokens,
    numDocuments: m.numDocuments,
  };
}

export interface PackedData {
  manifest: PackedManifest;
  /** numSequences * seqLen, padded with padId (for msm-megatron-v1: the token stream cut into rows). */
  tokens: Int32Array;
  /** msm-megatron-v1: the parsed .idx. */
  index: MegatronIndex | null;
  lossMask: Uint8Array | null;
  lengths: Int32Array | null;
}

/** Read a whole dataset into memory, checking every file hash and the dataset hash (tests, small data). */
export async function readPacked(store: ArtifactStore, manifestKey: string): Promise<PackedData> {
  const manifest = parseManifest((await store.get(manifestKey)).toString('utf8'), store.uri(manifestKey));
  const dir = manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1);
  const load = async (name: string | null): Promise<Buffer | null> => {
    if (name === null) return null;
    const buf = await store.get(dir + name);
    if (sha256Hex(buf) !== manifest.files[name])
      throw new Error(`${store.uri(dir + name)}: sha256 does not match the manifest`);
    return buf;
  };
  if (datasetSha256(manifest) !== manifest.sha256)
    throw new Error(`${store.uri(manifestKey)}: dataset sha256 does not match its files`);
  const [t, m, l] = [
    await load(manifest.tokensFile),
    await load(manifest.lossMaskFile),
    await load(manifest.lengthsFile),
  ];
  // Copy into fresh ArrayBuffers: a Buffer's byteOffset need not be 4-byte aligned.
  const i32 = (b: Buffer) => new Int32Array(new Uint8Array(b).buffer);
  if (manifest.format === MEGATRON_FORMAT)
    return readMegatronRows(
      manifest,
      i32(t!),
      decodeIndex((await load(manifest.indexFile ?? INDEX_FILE))!, store.uri(dir + INDEX_FILE)),
    );
  const tokens = i32(t!);
  if (tokens.length !== manifest.numSequences * manifest.seqLen)
    throw new Error(
      `${manifestKey}: tokens.bin has ${tokens.length} ints, expected ${manifest.numSequences}*${manifest.seqLen}`,
    );
  return { manifest, tokens, index: null, lossMask: m && new Uint8Array(m), lengths: l && i32(l) };
}

function readMegatronRows(manifest: PackedManifest, stream: Int32Array, index: MegatronIndex): PackedData {
  const { seqLen, numSequences, numTokens } = manifest;
  const total = index.sizes.reduce((a, b) => a + b, 0);
  if (stream.length !== numTokens || total !== numTokens)
    throw new Error(`tokens.bin holds ${stream.length} tokens, the index ${total}, the manifest ${numTokens}`);
  if (numSequences !== Math.ceil(numTokens / seqLen))
    throw new Error(`numSequences ${numSequences} is not ceil(${numTokens} / ${seqLen})`);
  const tokens = new Int32Array(numSequences * seqLen).fill(manifest.padId);
  tokens.set(stream);
  const lengths = Int32Array.from({ length: numSequences }, (_, r) => Math.min(seqLen, numTokens - r * seqLen));
  return { manifest, tokens, index, lossMask: null, lengths };
}
