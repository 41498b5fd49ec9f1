import type { ConditionCount } from '../eval/counts';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import type { Judgment } from './eval-activities';

/** The store key behind one of its URIs, or null when the URI is not in this store. */
export function keyOfUri(store: ArtifactStore, uri: string): string | null {
  const root = store.rootUri.replace(/\/$/, '');
  if (!uri.startsWith(`${root}/`)) return null;
  const rest = uri.slice(root.length + 1);
  // file:// URIs percent-encode the path; s3:// URIs carry the key as is.
  const key = root.startsWith('file:') ? decodeURIComponent(rest) : rest;
  return store.uri(key) === uri ? key : null;
}

/**
 * A cell's judged samples split by eval prompt (the condition), read back from the stored judgments
 * (one file per sample). Reads a few at a time: an S3 store answers each GET in milliseconds, not
 * microseconds. `onProgress` lets the caller heartbeat.
 */
export async function judgmentsByPrompt(store: ArtifactStore, prefixKey: string, onProgress: (read: number, of: number) => void = () => {}): Promise<ConditionCount[]> {
  const keys = (await store.list(`${prefixKey}/`)).filter((k) => k.endsWith('.json'));
  const counts = new Map<string, ConditionCount>();
  let next = 0;
  let read = 0;
  const worker = async () => {
    while (next < keys.length) {
      const j = await readJson<Judgment>(store, keys[next++]);
      const c = counts.get(j.promptId) ?? { condition: j.promptId, k: 0, n: 0 };
      c.n++;
      if (j.verdict === 'violates') c.k++;
      counts.set(j.promptId, c);
      if (++read % 200 === 0) onProgress(read, keys.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, keys.length) }, worker));
  onProgress(read, keys.length);
  return [...counts.values()].sort((a, b) => a.condition.localeCompare(b.condition));
}
