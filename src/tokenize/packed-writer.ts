import { createHash, type Hash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ArtifactStore } from '../store/artifact-store';
import { TokenizeInputError } from './errors';
import {
  LENGTHS_FILE,
  LOSS_MASK_FILE,
  PACKED_FORMAT,
  TOKENS_FILE,
  datasetSha256,
  manifestKeyOf,
  resultOf,
  type PackedManifest,
  type PackedResult,
} from './packed-format';

interface OutFile {
  name: string;
  localPath: string;
  fh: FileHandle;
  hash: Hash;
}

export type ManifestFields = Omit<
  PackedManifest,
  | 'format'
  | 'seqLen'
  | 'numSequences'
  | 'numTokens'
  | 'numTruncated'
  | 'tokensFile'
  | 'indexFile'
  | 'lossMaskFile'
  | 'lengthsFile'
  | 'files'
  | 'sha256'
  | 'documentStats'
>;

/**
 * Streams fixed-length rows to local temp files in chunks (hashing as it goes), then uploads them and
 * writes the manifest last. One row per example (AFT chat data); corpora go to MegatronWriter.
 */
export class PackedWriter {
  private readonly chunk: Int32Array;
  private readonly maskChunk: Uint8Array | null;
  /** Write position inside the chunk (row-major). */
  private pos = 0;
  private rowStart = 0;
  private readonly lengths: number[] = [];
  private numTokens = 0;
  private numTruncated = 0;

  private constructor(
    private readonly dir: string,
    private readonly seqLen: number,
    private readonly padId: number,
    private readonly tokens: OutFile,
    private readonly mask: OutFile | null,
    chunkRows: number,
  ) {
    this.chunk = new Int32Array(chunkRows * seqLen).fill(padId);
    this.maskChunk = mask ? new Uint8Array(chunkRows * seqLen) : null;
  }

  static async create(opts: {
    seqLen: number;
    padId: number;
    withLossMask: boolean;
    chunkRows?: number;
  }): Promise<PackedWriter> {
    if (!Number.isInteger(opts.seqLen) || opts.seqLen < 2)
      throw new TokenizeInputError(`seqLen must be an integer >= 2, got ${opts.seqLen}`);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msm-pack-'));
    const openOut = async (name: string): Promise<OutFile> => {
      const localPath = path.join(dir, name);
      return { name, localPath, fh: await open(localPath, 'w'), hash: createHash('sha256') };
    };
    // About 4 MiB of tokens per chunk, at least one row.
    const chunkRows = opts.chunkRows ?? Math.max(1, Math.floor((1 << 20) / opts.seqLen));
    return new PackedWriter(
      dir,
      opts.seqLen,
      opts.padId,
      await openOut(TOKENS_FILE),
      opts.withLossMask ? await openOut(LOSS_MASK_FILE) : null,
      chunkRows,
    );
  }

  get rows(): number {
    return this.lengths.length;
  }

  /** Close the current row if it holds tokens (or always: one row per example); the rest stays padId, mask 0. */
  async endRow(evenIfEmpty = false): Promise<void> {
    const len = this.pos - this.rowStart;
    if (len === 0 && !evenIfEmpty) return;
    this.lengths.push(len);
    this.numTokens += len;
    this.rowStart += this.seqLen;
    this.pos = this.rowStart;
    if (this.rowStart === this.chunk.length) await this.flush();
  }

  /** One example per row, cut at seqLen. */
  async appendRow(ids: ArrayLike<number>, lossMask: ArrayLike<number> | null): Promise<void> {
    const n = Math.min(ids.length, this.seqLen);
    if (n < ids.length) this.numTruncated++;
    for (let i = 0; i < n; i++) {
      this.chunk[this.pos + i] = ids[i];
      if (this.maskChunk && lossMask) this.maskChunk[this.pos + i] = lossMask[i];
    }
    this.pos += n;
    await this.endRow(true);
  }

  private async flush(): Promise<void> {
    const n = this.rowStart;
    if (n === 0) return;
    await this.writeOut(this.tokens, Buffer.from(this.chunk.buffer, 0, n * 4));
    if (this.mask && this.maskChunk) await this.writeOut(this.mask, Buffer.from(this.maskChunk.buffer, 0, n));
    this.chunk.fill(this.padId);
    this.maskChunk?.fill(0);
    this.pos = this.rowStart = 0;
  }

  private async writeOut(f: OutFile, buf: Buffer): Promise<void> {
    f.hash.update(buf);
    await f.fh.write(buf);
  }

  /** Upload the data files, then the manifest (the complete marker). */
  async finish(
    store: ArtifactStore,
    outPrefix: string,
    fields: ManifestFields & { numDocuments: number },
  ): Promise<PackedResult> {
    await this.endRow();
    await this.flush();
    const lengthsBuf = Buffer.from(new Int32Array(this.lengths).buffer);
    await writeFile(path.join(this.dir, LENGTHS_FILE), lengthsBuf);
    const lengths = {
      name: LENGTHS_FILE,
      localPath: path.join(this.dir, LENGTHS_FILE),
      sha: createHash('sha256').update(lengthsBuf).digest('hex'),
    };
    const outs = [this.tokens, ...(this.mask ? [this.mask] : [])];
    const uploads = [
      ...outs.map((f) => ({ name: f.name, localPath: f.localPath, sha: f.hash.digest('hex') })),
      lengths,
    ];
    for (const f of outs) await f.fh.close();

    const prefix = outPrefix.replace(/\/+$/, '');
    const files: Record<string, string> = {};
    for (const u of uploads) {
      const put = await store.putFile(`${prefix}/${u.name}`, u.localPath);
      // The store hashes what it stored: a mismatch means the upload is not what was written.
      if (put.sha256 !== u.sha)
        throw new Error(`${put.uri}: stored sha256 ${put.sha256} differs from written ${u.sha}`);
      files[u.name] = u.sha;
    }
    const base = {
      format: PACKED_FORMAT as typeof PACKED_FORMAT,
      seqLen: this.seqLen,
      tokenizerSha256: fields.tokenizerSha256,
      files,
    };
    const manifest: PackedManifest = {
      ...fields,
      ...base,
      numSequences: this.lengths.length,
      numTokens: this.numTokens,
      numTruncated: this.numTruncated,
      tokensFile: TOKENS_FILE,
      lossMaskFile: this.mask ? LOSS_MASK_FILE : null,
      lengthsFile: LENGTHS_FILE,
      sha256: datasetSha256(base),
    };
    const manifestKey = manifestKeyOf(prefix);
    await store.put(manifestKey, JSON.stringify(manifest, null, 2) + '\n');
    return resultOf(store, manifestKey, manifest);
  }

  /** Remove the local temp files (always, success or not). */
  async dispose(): Promise<void> {
    for (const f of [this.tokens, this.mask]) await f?.fh.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
