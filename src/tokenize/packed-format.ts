import { createHash } from 'node:crypto';
import os from 'node:os';
import type { ArtifactStore } from '../store/artifact-store';
import type { TokenizerFamily } from './tokenizer';

/**
 * The on-disk contract read by the Python trainer (numpy: np.fromfile(path, '<i4').reshape(n, seqLen)).
 * A folder holds manifest.json (written last: its presence marks the dataset complete) and:
 *   tokens.bin     int32 little-endian, numSequences * seqLen, row-major
 *   loss_mask.bin  uint8, same shape (chat data only): 1 where the token is a training target
 *   lengths.bin    int32 little-endian, one per row: tokens before padding
 */
export const PACKED_FORMAT = 'msm-packed-v1';
export const TOKENS_FILE = 'tokens.bin';
export const LOSS_MASK_FILE = 'loss_mask.bin';
export const LENGTHS_FILE = 'lengths.bin';
export const MANIFEST_FILE = 'manifest.json';

if (os.endianness() !== 'LE') throw new Error('msm-packed-v1 writes typed arrays as-is and needs a little-endian host');

export interface PackedManifest {
  format: typeof PACKED_FORMAT;
  tokenizer: TokenizerFamily;
  tokenizerSha256: string;
  seqLen: number;
  numSequences: number;
  /** Real (non-pad) tokens. */
  numTokens: number;
  numDocuments: number;
  /** Rows cut short at seqLen (chat data; always 0 for packed corpora, which split documents across rows). */
  numTruncated: number;
  tokensFile: typeof TOKENS_FILE;
  lossMaskFile: typeof LOSS_MASK_FILE | null;
  lengthsFile: typeof LENGTHS_FILE | null;
  padId: number;
  eosId: number;
  vocabSize: number;
  /** Document shuffle seed; null where input order is kept (chat data). */
  shuffleSeed: number | null;
  /** File name -> sha256 of its bytes. */
  files: Record<string, string>;
  /** Content hash of the dataset: see datasetSha256. */
  sha256: string;
}

/**
 * sha256 of the UTF-8 text "msm-packed-v1\nseqLen=<n>\ntokenizer=<sha>\n" followed by "<name> <sha>\n"
 * for each data file in name order. Simple enough to recompute in Python.
 */
export function datasetSha256(m: Pick<PackedManifest, 'seqLen' | 'tokenizerSha256' | 'files'>): string {
  let s = `${PACKED_FORMAT}\nseqLen=${m.seqLen}\ntokenizer=${m.tokenizerSha256}\n`;
  for (const name of Object.keys(m.files).sort()) s += `${name} ${m.files[name]}\n`;
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

export function manifestKeyOf(outPrefix: string): string {
  return `${outPrefix.replace(/\/+$/, '')}/${MANIFEST_FILE}`;
}

export function parseManifest(json: string, where: string): PackedManifest {
  const m = JSON.parse(json) as PackedManifest;
  if (m.format !== PACKED_FORMAT) throw new Error(`${where}: format ${String(m.format)}, expected ${PACKED_FORMAT}`);
  return m;
}

export interface PackedResult {
  manifestKey: string;
  manifestUri: string;
  sha256: string;
  numSequences: number;
  numTokens: number;
  numDocuments: number;
}

/** The idempotency check: a complete dataset at outPrefix is returned as-is. */
export async function existingPacked(store: ArtifactStore, outPrefix: string): Promise<PackedResult | null> {
  const manifestKey = manifestKeyOf(outPrefix);
  if (!(await store.exists(manifestKey))) return null;
  const m = parseManifest((await store.get(manifestKey)).toString('utf8'), store.uri(manifestKey));
  return resultOf(store, manifestKey, m);
}

export function resultOf(store: ArtifactStore, manifestKey: string, m: PackedManifest): PackedResult {
  return {
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
  tokens: Int32Array;
  lossMask: Uint8Array | null;
  lengths: Int32Array | null;
}

function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Read a whole dataset into memory, checking every file hash and the dataset hash (tests, small data). */
export async function readPacked(store: ArtifactStore, manifestKey: string): Promise<PackedData> {
  const manifest = parseManifest((await store.get(manifestKey)).toString('utf8'), store.uri(manifestKey));
  const dir = manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1);
  const load = async (name: string | null): Promise<Buffer | null> => {
    if (name === null) return null;
    const buf = await store.get(dir + name);
    if (sha256Hex(buf) !== manifest.files[name]) throw new Error(`${store.uri(dir + name)}: sha256 does not match the manifest`);
    return buf;
  };
  if (datasetSha256(manifest) !== manifest.sha256) throw new Error(`${store.uri(manifestKey)}: dataset sha256 does not match its files`);
  const [t, m, l] = [await load(manifest.tokensFile), await load(manifest.lossMaskFile), await load(manifest.lengthsFile)];
  // Copy into fresh ArrayBuffers: a Buffer's byteOffset need not be 4-byte aligned.
  const i32 = (b: Buffer) => new Int32Array(new Uint8Array(b).buffer);
  const tokens = i32(t!);
  if (tokens.length !== manifest.numSequences * manifest.seqLen) throw new Error(`${manifestKey}: tokens.bin has ${tokens.length} ints, expected ${manifest.numSequences}*${manifest.seqLen}`);
  return { manifest, tokens, lossMask: m && new Uint8Array(m), lengths: l && i32(l) };
}
