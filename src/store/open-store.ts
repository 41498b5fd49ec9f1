import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ArtifactStore } from './artifact-store';
import { FsArtifactStore } from './fs-store';
import { S3ArtifactStore } from './s3-store';

const stores = new Map<string, ArtifactStore>();

/** Open (and cache) the store for a root: `file:///abs`, `s3://bucket/prefix`, or a plain path. */
export function openStore(rootUri: string): ArtifactStore {
  const cached = stores.get(rootUri);
  if (cached) return cached;
  let store: ArtifactStore;
  if (rootUri.startsWith('s3://')) store = new S3ArtifactStore(rootUri);
  else if (rootUri.startsWith('file://')) store = new FsArtifactStore(rootUri);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rootUri)) {
    throw new Error(`unsupported artifact store "${rootUri}": use a path, file:///absolute/dir or s3://bucket/prefix`);
  } else store = new FsArtifactStore(pathToFileURL(path.resolve(rootUri)).href);
  stores.set(rootUri, store);
  return store;
}

/** Resolve a store setting to a URI: s3:// and file:// pass through, paths resolve against baseDir. */
export function resolveStoreUri(store: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(store)) return store;
  return 'file://' + path.resolve(baseDir, store);
}
