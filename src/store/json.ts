import type { ArtifactStore, PutResult } from './artifact-store';

export async function readJson<T>(store: ArtifactStore, key: string): Promise<T> {
  return JSON.parse((await store.get(key)).toString('utf8')) as T;
}

/** Stable, readable JSON: 2-space indent and a final newline. */
export function writeJson(store: ArtifactStore, key: string, value: unknown): Promise<PutResult> {
  return store.put(key, JSON.stringify(value, null, 2) + '\n');
}
