import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ArtifactNotFoundError, type ArtifactStore } from '../store/artifact-store';
import { sha256Hex } from '../util/hash';
import { isHfRef, parquetToJsonl, readHfData } from '../data/hf-data';
import type { Experiment, FrozenInput, FrozenInputs } from './experiment-schema';

/**
 * Inputs frozen at start. The client (msm start, run, sweep, schedule) reads every input file the
 * experiment names, puts its text in the content-addressed store and writes the hashes into the workflow
 * input (`frozenInputs`); the worker then reads each file by its hash from the store, never from its own
 * file system, so the run trains on the bytes that were validated, however long it waits for a worker.
 * Only when the store lacks the content (the client put it in a store this worker cannot see, or the store
 * was cleaned) does the worker fall back to its own file, and only if that file has the recorded hash.
 */

/** Store key of frozen content: its full sha256, so a key names its bytes and equal files are stored once. */
export const frozenKey = (sha256: string): string => `inputs/frozen/${sha256}`;

/** A frozen input that cannot be used as recorded: bad input (start the run again), never retried. */
export class FrozenInputError extends Error {
  override name = 'FrozenInputError';
}

/** An input file the experiment names: the field that names it and the path as written. */
export interface InputFile {
  field: string;
  path: string;
}

/**
 * Every input file an experiment reads by path. Not here on purpose: baseModel.path (model weights, often
 * hf: or s3:, too large to copy per run), identity files (secrets never go to the store) and local GGUF
 * models; these are read where they are used.
 */
export function inputFiles(x: Experiment): InputFile[] {
  const named: Array<[string, string | undefined]> = [
    ['spec', x.spec],
    ['midtrain.placeboSpec', x.midtrain.placeboSpec],
    ['aft.generate.spec', x.aft.generate?.spec],
    ['aft.data', x.aft.data],
    ['aft.reasoningData', x.aft.reasoningData],
    ['aft.mix.data', x.aft.mix?.data],
    ['eval.prompts', x.eval.prompts],
    ...(x.eval.capabilities ?? []).map((c, i): [string, string | undefined] => [
      `eval.capabilities[${i}].questions`,
      c.questions,
    ]),
  ];
  return named.flatMap(([field, p]) => (p ? [{ field, path: p }] : []));
}

/** Fields that name a Markdown spec: read as text, never as hf: data or Parquet. */
export const isSpecField = (field: string): boolean => field === 'spec' || field === 'aft.generate.spec';

/** An input file's text; a file that cannot be read names itself and the fix. */
export async function readInputText(baseDir: string, f: InputFile): Promise<string> {
  // Data files by reference (hf:) or in Parquet are frozen as the JSONL text they read as.
  const data = !isSpecField(f.field);
  if (data && isHfRef(f.path)) return readHfData(f.path, f.field);
  const abs = path.resolve(baseDir, f.path);
  if (data && /\.parquet$/i.test(abs)) return parquetToJsonl(abs, f.field);
  try {
    return await readFile(abs, 'utf8');
  } catch (e) {
    throw new FrozenInputError(
      `${f.field}: cannot read ${abs} (${(e as NodeJS.ErrnoException).code ?? e}); fix the path (relative paths resolve against ${baseDir})`,
    );
  }
}

/** Put a text in the store under its hash (once) and describe it as a frozen input. */
export async function freezeText(store: ArtifactStore, text: string, now: Date): Promise<FrozenInput> {
  const sha256 = sha256Hex(text);
  if (!(await store.exists(frozenKey(sha256)))) await store.put(frozenKey(sha256), text);
  return { sha256, size: Buffer.byteLength(text, 'utf8'), frozenAt: now.toISOString(), storeUri: store.rootUri };
}

/** How the files are read, and what a file that cannot be read does. */
export interface FreezeOptions {
  now: Date;
  /**
   * 'skip' leaves out a file that cannot be read (the worker freezing a sweep: that point then fails alone
   * with the loader's own message); the default refuses it, before anything starts.
   */
  unreadable?: 'refuse' | 'skip';
  /** Default readInputText; a worker passes the loader's reader, so its checks on paths apply. */
  read?: (baseDir: string, f: InputFile) => Promise<string>;
}

/** Freeze every input file of one experiment into its store. */
export async function freezeExperimentFiles(
  x: Experiment,
  baseDir: string,
  store: ArtifactStore,
  opts: FreezeOptions,
): Promise<FrozenInputs> {
  const read = opts.read ?? readInputText;
  const frozen: FrozenInputs = {};
  for (const f of inputFiles(x)) {
    let text: string;
    try {
      text = await read(baseDir, f);
    } catch (e) {
      if (opts.unreadable === 'skip') continue;
      throw e;
    }
    frozen[f.path] = await freezeText(store, text, opts.now);
  }
  return frozen;
}

/**
 * Merge the frozen inputs of several experiments (a sweep's points). One path must mean one content: two
 * points whose baseDir differs could name different files by the same relative path.
 */
export function mergeFrozen(parts: Array<{ id: string; frozen: FrozenInputs }>): FrozenInputs {
  const merged: FrozenInputs = {};
  const owner = new Map<string, string>();
  for (const { id, frozen } of parts) {
    for (const [p, entry] of Object.entries(frozen)) {
      const seen = merged[p];
      if (seen && seen.sha256 !== entry.sha256)
        throw new FrozenInputError(
          `${p} names different content in point ${owner.get(p)} (sha256 ${seen.sha256}) and point ${id} (sha256 ${entry.sha256}), ` +
            'as their baseDir differs; name the files by distinct paths (e.g. absolute ones)',
        );
      if (!seen) {
        merged[p] = entry;
        owner.set(p, id);
      }
    }
  }
  return merged;
}

/**
 * Reads an input file's text for the experiment check (src/experiment/check-experiment.ts): `disk` reads it
 * from this machine, with every check the loader makes on a path.
 */
export type InputReader = (rel: string, field: string, disk: () => Promise<string>) => Promise<string>;

/**
 * The worker's reader for a run started with frozen inputs: each file by its hash from the store,
 * checked. A path the input does not list (a hand-written partial list) is read from disk as before.
 */
export function frozenInputReader(frozen: FrozenInputs, store: ArtifactStore, baseDir: string): InputReader {
  return async (rel, field, disk) => {
    const entry = Object.hasOwn(frozen, rel) ? frozen[rel] : undefined;
    if (!entry) return disk();
    const stored = await storedText(store, entry.sha256);
    if (stored !== undefined) return stored;
    // The store lacks it: the worker's own file, only if it still has the recorded bytes.
    const abs = path.resolve(baseDir, rel);
    let text: string;
    try {
      text = await disk();
    } catch (e) {
      throw new FrozenInputError(
        `${notStored(field, rel, entry, store)} and the worker cannot read ${abs}: ${(e as Error).message}. ${RESTART}`,
      );
    }
    const sha256 = sha256Hex(text);
    if (sha256 !== entry.sha256)
      throw new FrozenInputError(
        `${field}: ${abs} changed after it was frozen at start: recorded sha256 ${entry.sha256}` +
          `${entry.frozenAt ? ` (${entry.frozenAt})` : ''}, the worker's file now has sha256 ${sha256}, ` +
          `and the store ${store.rootUri} does not hold the recorded content${entry.storeUri && entry.storeUri !== store.rootUri ? ` (msm start put it in ${entry.storeUri}, which this worker does not use)` : ''}. ${RESTART}`,
      );
    await freezeText(store, text, new Date()); // frozen here now: every later read is by hash
    return text;
  };
}

const RESTART =
  'Start the run again (msm start, msm sweep or msm schedule update re-freezes the inputs as they are now), or restore the file';

const notStored = (field: string, rel: string, entry: FrozenInput, store: ArtifactStore) =>
  `${field}: ${rel} was frozen at start (sha256 ${entry.sha256}) but the store ${store.rootUri} does not hold that content`;

/** The stored text of a hash, checked against it; undefined when the store does not have it. */
async function storedText(store: ArtifactStore, sha256: string): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await store.get(frozenKey(sha256));
  } catch (e) {
    if (e instanceof ArtifactNotFoundError) return undefined;
    throw e; // transient store faults are retried
  }
  const text = bytes.toString('utf8');
  const actual = sha256Hex(text);
  if (actual !== sha256)
    throw new FrozenInputError(
      `the store object ${store.uri(frozenKey(sha256))} holds content with sha256 ${actual}, not ${sha256}: it was altered after it was frozen. ${RESTART}`,
    );
  return text;
}
