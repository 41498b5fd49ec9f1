/**
 * The artifact store: everything big lives here and crosses Temporal as a URI plus a sha256
 * (claim check). Keys are '/'-separated paths relative to the store root.
 */
export interface PutResult {
  uri: string;
  key: string;
  sha256: string;
  size: number;
}

export interface ArtifactStore {
  /** Root URI: `file:///abs/dir` or `s3://bucket/prefix`. */
  readonly rootUri: string;
  /** Full URI of a key. */
  uri(key: string): string;
  exists(key: string): Promise<boolean>;
  /** Throws ArtifactNotFoundError if absent. */
  get(key: string): Promise<Buffer>;
  /** Atomic: readers see the old object or the complete new one, never a partial write. */
  put(key: string, data: Buffer | string): Promise<PutResult>;
  /** Upload a local file atomically (large data, e.g. token shards). */
  putFile(key: string, localPath: string): Promise<PutResult>;
  /** Download to a local path (atomic on the local side). */
  getFile(key: string, localPath: string): Promise<void>;
  /** Keys under a prefix, sorted, relative to the root. */
  list(prefix: string): Promise<string[]>;
  /** Remove every key under a prefix (used for temp/cleanup only). */
  deletePrefix(prefix: string): Promise<void>;
}

export class ArtifactNotFoundError extends Error {
  constructor(readonly uri: string) {
    super(`artifact not found: ${uri}`);
    this.name = 'ArtifactNotFoundError';
  }
}
