import { createHash, type Hash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArtifactStore } from '../store/artifact-store';
import { TokenizeInputError } from './errors';
import { encodeIndex } from './megatron-index';
import {
  INDEX_FILE,
  MEGATRON_FORMAT,
  TOKENS_FILE,
  datasetSha256,
  manifestKeyOf,
  resultOf,
  type DocumentTokenStats,
  type PackedManifest,
  type PackedResult,
} from './packed-format';
import type { ManifestFields } from './packed-writer';

/** Tokens buffered before a write: 4 MiB. */
const CHUNK_TOKENS = 1 << 20;

/**
 * Streams documents (each followed by eos) into a Megatron `.bin` in a local temp folder, hashing as it
 * goes; finish() writes the `.idx`, uploads both and writes the manifest last.
 */
export class MegatronWriter {
  private readonly chunk: Int32Array;
  private pos = 0;
  private readonly sizes: number[] = [];
  private numTokens = 0;
  private readonly hash: Hash = createHash('sha256');

  private constructor(
    private readonly dir: string,
    private readonly fh: FileHandle,
    private readonly seqLen: number,
    chunkTokens: number,
  ) {
    this.chunk = new Int32Array(chunkTokens);
  }

  static async create(opts: { seqLen: number; chunkTokens?: number }): Promise<MegatronWriter> {
    if (!Number.isInteger(opts.seqLen) || opts.seqLen < 2)
      throw new TokenizeInputError(`seqLen must be an integer >= 2, got ${opts.seqLen}`);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msm-megatron-'));
    return new MegatronWriter(
      dir,
      await open(path.join(dir, TOKENS_FILE), 'w'),
      opts.seqLen,
      opts.chunkTokens ?? CHUNK_TOKENS,
    );
  }

  /** One document = one Megatron sequence: its ids, then eos. */
  async appendDocument(ids: ArrayLike<number>, eosId: number): Promise<void> {
    for (let i = 0; i < ids.length; i++) {
      this.chunk[this.pos++] = ids[i];
      if (this.pos === this.chunk.length) await this.flush();
    }
    this.chunk[this.pos++] = eosId;
    if (this.pos === this.chunk.length) await this.flush();
    this.sizes.push(ids.length + 1);
    this.numTokens += ids.length + 1;
  }

  private async flush(): Promise<void> {
    if (this.pos === 0) return;
    // A view, not a copy: the chunk is refilled only after the write is awaited.
    const buf = Buffer.from(this.chunk.buffer, 0, this.pos * 4);
    this.hash.update(buf);
    await this.fh.write(buf);
    this.pos = 0;
  }

  /** Upload .bin and .idx, then the manifest (the complete marker). */
  async finish(
    store: ArtifactStore,
    outPrefix: string,
    fields: ManifestFields & { numDocuments: number },
    documentStats?: DocumentTokenStats,
  ): Promise<PackedResult> {
    await this.flush();
    await this.fh.close();
    const idx = encodeIndex(this.sizes);
    await writeFile(path.join(this.dir, INDEX_FILE), idx);
    const written: Record<string, string> = {
      [TOKENS_FILE]: this.hash.digest('hex'),
      [INDEX_FILE]: createHash('sha256').update(idx).digest('hex'),
    };
    const prefix = outPrefix.replace(/\/+$/, '');
    for (const [name, sha] of Object.entries(written)) {
      const put = await store.putFile(`${prefix}/${name}`, path.join(this.dir, name));
      // The store hashes what it stored: a mismatch means the upload is not what was written.
      if (put.sha256 !== sha) throw new Error(`${put.uri}: stored sha256 ${put.sha256} differs from written ${sha}`);
    }
    const base = {
      format: MEGATRON_FORMAT as typeof MEGATRON_FORMAT,
      seqLen: this.seqLen,
      tokenizerSha256: fields.tokenizerSha256,
      files: written,
    };
    const manifest: PackedManifest = {
      ...fields,
      ...base,
      numSequences: Math.ceil(this.numTokens / this.seqLen),
      numTokens: this.numTokens,
      numTruncated: 0,
      tokensFile: TOKENS_FILE,
      indexFile: INDEX_FILE,
      lossMaskFile: null,
      lengthsFile: null,
      ...(documentStats && { documentStats }),
      sha256: datasetSha256(base),
    };
    const manifestKey = manifestKeyOf(prefix);
    await store.put(manifestKey, JSON.stringify(manifest, null, 2) + '\n');
    return resultOf(store, manifestKey, manifest);
  }

  /** Remove the local temp files (always, success or not). */
  async dispose(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
