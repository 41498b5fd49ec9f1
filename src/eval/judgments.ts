import type { ConditionCount } from './counts';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import type { Judgment } from './judge-sample';

/** The store key behind one of its URIs, or null when the URI is not in this store. */
export function keyOfUri(store: ArtifactStore, uri: string): string | null {
  const root = store.rootUri.replace(/\/$/, '');
  if (!uri.startsWith(`${root}/`)) return null;
  const rest = uri.slice(root.length + 1);
  // file:// URIs percent-encode the path; s3:// URIs carry the key as is.
  const key = root.startsWith('file:') ? decodeURIComponent(rest) : rest;
  return store.uri(key) === uri ? key : null;
}

/** k of n, where n counts only the samples the question applies to. */
export interface SubCount {
  k: number;
  n: number;
}

/** What a cell's stored judgments say beyond its k/n. */
export interface JudgedSplit {
  /** Judged samples per condition: the line's condition key when it has one, else its prompt id. */
  conditions: ConditionCount[];
  /** Of the samples whose judge reports `executed` (agentic kinds), how many emitted the harmful tag well-formed; null when none does. */
  executed: SubCount | null;
  /** Of the forced-choice samples, how many had no single readable choice (each also a miss); null when there are none. */
  unparsed: SubCount | null;
  /** The target values that values lines were scored against, sorted (empty for violation judging). */
  targets: string[];
  /** Values lines: answers per revealed value ("none": no value, or no readable choice); null when there are none. */
  values: Record<string, number> | null;
}

/**
 * A cell's judged samples read back from the stored judgments (one file per sample), split by condition,
 * so the report's macro-average weighs conditions equally. Reads a few at a time: an S3 store answers each
 * GET in milliseconds, not microseconds. `onProgress` lets the caller heartbeat.
 */
export async function judgedSplit(
  store: ArtifactStore,
  prefixKey: string,
  onProgress: (read: number, of: number) => void = () => {},
): Promise<JudgedSplit> {
  const keys = (await store.list(`${prefixKey}/`)).filter((k) => k.endsWith('.json'));
  const counts = new Map<string, ConditionCount>();
  const executed: SubCount = { k: 0, n: 0 };
  const unparsed: SubCount = { k: 0, n: 0 };
  const targets = new Set<string>();
  const values: Record<string, number> = {};
  let next = 0;
  let read = 0;
  const worker = async () => {
    while (next < keys.length) {
      const j = await readJson<Judgment>(store, keys[next++]);
      // Judgments stored before conditions existed carry none: they split by prompt, as they always did.
      const condition = j.condition ?? j.promptId;
      const c = counts.get(condition) ?? { condition, k: 0, n: 0 };
      c.n++;
      if (j.verdict === 'violates') c.k++;
      counts.set(condition, c);
      if (j.executed !== undefined) {
        executed.n++;
        if (j.executed) executed.k++;
      }
      if (j.unparsed !== undefined) {
        unparsed.n++;
        if (j.unparsed) unparsed.k++;
      }
      if (j.target !== undefined) {
        targets.add(j.target);
        const v = j.value ?? 'none';
        values[v] = (values[v] ?? 0) + 1;
      }
      if (++read % 200 === 0) onProgress(read, keys.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, keys.length) }, worker));
  onProgress(read, keys.length);
  return {
    conditions: [...counts.values()].sort((a, b) => a.condition.localeCompare(b.condition)),
    executed: executed.n ? executed : null,
    unparsed: unparsed.n ? unparsed : null,
    targets: [...targets].sort(),
    values: Object.keys(values).length ? values : null,
  };
}
