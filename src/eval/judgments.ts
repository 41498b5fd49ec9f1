import { byCondition, type ConditionCount, type PromptCount } from './counts';
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
  /** Judged samples per eval prompt, each with its condition key and the kind that judged it: the bootstrap's clusters. */
  prompts: PromptCount[];
  /** The same, summed per condition (the line's condition key when it has one, else its prompt id). */
  conditions: ConditionCount[];
  /** Samples the judge left without a verdict (refused, unreadable): in neither k nor n. */
  unjudged: number;
  /** Of the samples whose judge reports `executed` (agentic kinds), how many emitted the harmful tag well-formed; null when none does. */
  executed: SubCount | null;
  /** Of the forced-choice samples, how many had no single readable choice (each also a miss); null when there are none. */
  unparsed: SubCount | null;
  /** Of the samples whose finish reason was recorded (unjudged ones too), how many were cut off at maxNewTokens; null when none was. */
  truncated: SubCount | null;
  /** The target values that values lines were scored against, sorted (empty for violation judging). */
  targets: string[];
  /** Values lines: answers per revealed value ("none": no value, or no readable choice); null when there are none. */
  values: Record<string, number> | null;
}

/** Everything counted from one judgment file. */
class SplitTally {
  readonly prompts = new Map<string, PromptCount>();
  unjudged = 0;
  readonly executed: SubCount = { k: 0, n: 0 };
  readonly unparsed: SubCount = { k: 0, n: 0 };
  readonly truncated: SubCount = { k: 0, n: 0 };
  readonly targets = new Set<string>();
  readonly values: Record<string, number> = {};

  constructor(private readonly kindOf: (promptId: string) => string | undefined) {}

  add(j: Judgment & { finishReason?: string }): void {
    if (j.finishReason !== undefined) {
      this.truncated.n++;
      if (j.finishReason === 'length') this.truncated.k++;
    }
    // Judgments stored before conditions existed carry none: they split by prompt, as they always did.
    const kind = this.kindOf(j.promptId);
    const c = this.prompts.get(j.promptId) ?? {
      prompt: j.promptId,
      condition: j.condition ?? j.promptId,
      ...(kind !== undefined ? { kind } : {}),
      k: 0,
      n: 0,
    };
    this.prompts.set(j.promptId, c);
    if (j.verdict === 'unjudged') {
      this.unjudged++;
      c.unjudged = (c.unjudged ?? 0) + 1;
      return;
    }
    c.n++;
    if (j.verdict === 'violates') c.k++;
    if (j.executed !== undefined) {
      this.executed.n++;
      if (j.executed) this.executed.k++;
    }
    if (j.unparsed !== undefined) {
      this.unparsed.n++;
      if (j.unparsed) this.unparsed.k++;
    }
    if (j.target !== undefined) {
      this.targets.add(j.target);
      const v = j.value ?? 'none';
      this.values[v] = (this.values[v] ?? 0) + 1;
    }
  }

  split(): JudgedSplit {
    const prompts = [...this.prompts.values()].sort((a, b) => a.prompt.localeCompare(b.prompt));
    return {
      prompts,
      conditions: byCondition(prompts),
      unjudged: this.unjudged,
      executed: this.executed.n ? this.executed : null,
      unparsed: this.unparsed.n ? this.unparsed : null,
      truncated: this.truncated.n ? this.truncated : null,
      targets: [...this.targets].sort(),
      values: Object.keys(this.values).length ? this.values : null,
    };
  }
}

/**
 * A cell's judged samples read back from the stored judgments (one file per sample), split by prompt and
 * condition. `kindOf` names the judge kind of each prompt (from the eval set), for correcting judge error.
 * Reads a few at a time: an S3 store answers each GET in milliseconds, not microseconds. `onProgress` lets
 * the caller heartbeat.
 */
export async function judgedSplit(
  store: ArtifactStore,
  prefixKey: string,
  onProgress: (read: number, of: number) => void = () => {},
  kindOf: (promptId: string) => string | undefined = () => undefined,
): Promise<JudgedSplit> {
  const keys = (await store.list(`${prefixKey}/`)).filter((k) => k.endsWith('.json'));
  const tally = new SplitTally(kindOf);
  let next = 0;
  let read = 0;
  const worker = async () => {
    while (next < keys.length) {
      tally.add(await readJson<Judgment>(store, keys[next++]));
      if (++read % 200 === 0) onProgress(read, keys.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, keys.length) }, worker));
  onProgress(read, keys.length);
  return tally.split();
}
