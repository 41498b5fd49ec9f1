import type { ArtifactStore, PutResult } from './artifact-store';

export async function readJson<T>(store: ArtifactStore, key: string): Promise<T> {
  return JSON.parse((await store.get(key)).toString('utf8')) as T;
}

/** Stable, readable JSON: 2-space indent and a final newline. */
export function writeJson(store: ArtifactStore, key: string, value: unknown): Promise<PutResult> {
  return store.put(key, JSON.stringify(value, null, 2) + '\n');
}

/** Run `fn` only when `key` is missing and store its value there: a retry or re-run never pays for an item twice. */
export async function onceFor<T>(
  store: ArtifactStore,
  key: string,
  fn: () => Promise<T>,
): Promise<{ value: T; fresh: boolean }> {
  if (await store.exists(key)) return { value: await readJson<T>(store, key), fresh: false };
  const value = await fn();
  await writeJson(store, key, value);
  return { value, fresh: true };
}
