import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { reproducibilityOf, weakestReproducibility, type Reproducibility } from '../llm/seed';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { createHash, type Hash } from 'node:crypto';
import { contentId } from '../util/hash';
import { NearDuplicateIndex } from '../util/minhash';
import { docKeysOf, idOfKey, selected } from './selection';
import { estimatedTokens } from './target';
import type { AssemblySettings, CorpusDocument, CorpusManifestRef, CorpusRef } from './types';

/** Documents per JSONL shard. */
const SHARD = 1000;

/** A corpus with no usable document: bad settings, never retried (the message says which to change). */
export class EmptyCorpusError extends Error {
  override name = 'EmptyCorpusError';
}

/**
 * Kept documents as they come: each JSONL shard is written as soon as it fills, and the corpus hash is
 * fed line by line, so memory holds one shard and never one string of the whole corpus (V8 caps a string
 * near 2^29 characters: about 25k long documents). The hash is sha256 of the kept lines joined by "\n",
 * the value the one-string assembly computed, so manifests assembled before stay comparable.
 */
class ShardWriter {
  readonly shardKeys: string[] = [];
  private readonly hash: Hash = createHash('sha256');
  private pending: string[] = [];
  lines = 0;

  constructor(
    private readonly store: ArtifactStore,
    private readonly folder: string,
  ) {}

  async add(line: string): Promise<void> {
    this.hash.update(this.lines === 0 ? line : `\n${line}`);
    this.lines++;
    this.pending.push(line);
    if (this.pending.length === SHARD) await this.flush();
  }

  /** Write the lines not yet in a shard (the last, partly filled one). */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const key = `${this.folder}/shards/docs-${String(this.shardKeys.length).padStart(5, '0')}.jsonl`;
    await this.store.put(key, this.pending.join('\n') + '\n');
    this.shardKeys.push(key);
    this.pending = [];
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

interface Collected {
  dropped: { empty: number; truncated: number; nearDuplicates: number };
  truncated: number;
  /** Characters of the kept documents' text. */
  chars: number;
  documentUsage: Usage;
  reproducible: Set<Reproducibility>;
}

/** Every selected document read once: handed to the shard writer, or counted as the drop it is. */
async function collect(
  store: ArtifactStore,
  keys: string[],
  settings: AssemblySettings,
  shards: ShardWriter,
  onDocument: (kept: number) => void,
) {
  const index = new NearDuplicateIndex(settings.nearDuplicateThreshold);
  const c: Collected = {
    dropped: { empty: 0, truncated: 0, nearDuplicates: 0 },
    truncated: 0,
    chars: 0,
    documentUsage: NO_USAGE,
    reproducible: new Set(),
  };
  for (const key of keys) {
    const doc = await readJson<CorpusDocument>(store, key);
    c.reproducible.add(doc.seed === undefined ? 'no' : reproducibilityOf(doc.generator.split(':')[0]));
    const { inputTokens, outputTokens, costUsd = 0, cacheWriteTokens = 0, cacheReadTokens = 0 } = doc.usage;
    c.documentUsage = addUsage(c.documentUsage, {
      calls: 1,
      inputTokens: inputTokens + cacheWriteTokens + cacheReadTokens,
      outputTokens,
      costUsd,
    });
    if (!doc.text) c.dropped.empty++;
    else if (doc.truncated && settings.truncated === 'drop') c.dropped.truncated++;
    else if (index.add(doc.id, doc.text) !== null) c.dropped.nearDuplicates++;
    else {
      if (doc.truncated) c.truncated++;
      c.chars += doc.text.length;
      await shards.add(JSON.stringify(doc));
    }
    onDocument(shards.lines);
  }
  await shards.flush();
  return c;
}

/**
 * Collect documents into JSONL shards: empty ones dropped, near-duplicates (MinHash) removed, truncated
 * ones dropped or kept flagged as configured, every drop counted. Only documents within the ref's
 * selection are taken. The assembly has its own folder, keyed by those settings and the selection, so
 * changing them re-assembles without paying for a document again. The manifest is written last and
 * carries the corpus hash.
 */
export async function assembleCorpusFolder(
  store: ArtifactStore,
  ref: CorpusRef,
  settings: AssemblySettings,
  onDocument: (kept: number) => void,
): Promise<CorpusManifestRef> {
  // Keyed by the selection too: other counts make another corpus (and hash) from the same folder.
  const out = `${ref.prefix}/assembled-${contentId(ref.selection ? { ...settings, selection: ref.selection } : settings)}`;
  const manifestKey = `${out}/manifest.json`;
  if (await store.exists(manifestKey)) return withEstimatedTokens(store, await readJson(store, manifestKey));
  const keys = (await docKeysOf(store, ref.prefix)).filter((k) => selected(idOfKey(k), ref.selection));
  const shards = new ShardWriter(store, out);
  const c = await collect(store, keys, settings, shards, onDocument);
  if (shards.lines === 0) {
    throw new EmptyCorpusError(
      `corpus ${ref.prefix} has no usable documents out of ${keys.length} (${c.dropped.empty} empty, ${c.dropped.truncated} truncated, ` +
        `${c.dropped.nearDuplicates} near-duplicates): raise generation.maxDocTokens, or set generation.truncated: "keep"`,
    );
  }
  const manifest: CorpusManifestRef = {
    manifestKey,
    hash: shards.digest(),
    documents: shards.lines,
    duplicatesRemoved: c.dropped.nearDuplicates,
    truncatedDropped: c.dropped.truncated,
    truncated: c.truncated,
    shardKeys: shards.shardKeys,
    documentUsage: c.documentUsage,
    reproducible: weakestReproducibility(c.reproducible),
    estimatedTokens: estimatedTokens(c.chars),
  };
  await writeJson(store, manifestKey, manifest);
  return manifest;
}

/**
 * The assembled corpus without the given documents (eval.decontaminate: drop, src/eval/decontaminate.ts),
 * as a corpus of its own under `folder`: new shards, hash and manifest (written last; reused when present).
 */
export async function corpusWithout(
  store: ArtifactStore,
  manifest: CorpusManifestRef,
  dropIds: ReadonlySet<string>,
  folder: string,
): Promise<CorpusManifestRef> {
  const manifestKey = `${folder}/manifest.json`;
  if (await store.exists(manifestKey)) return readJson<CorpusManifestRef>(store, manifestKey);
  const shards = new ShardWriter(store, folder);
  let truncated = 0;
  let chars = 0;
  for await (const { doc, line } of shardDocuments(store, manifest.shardKeys)) {
    if (dropIds.has(doc.id)) continue;
    if (doc.truncated) truncated++;
    chars += doc.text.length;
    await shards.add(line);
  }
  await shards.flush();
  if (shards.lines === 0)
    throw new EmptyCorpusError(
      `every document of the corpus (${manifest.documents}) overlaps the evaluation data, so eval.decontaminate: "drop" left none: ` +
        'check that the spec does not quote the eval prompts, or set eval.decontaminate: "warn"',
    );
  const out: CorpusManifestRef = {
    ...manifest,
    manifestKey,
    hash: shards.digest(),
    documents: shards.lines,
    truncated,
    shardKeys: shards.shardKeys,
    estimatedTokens: estimatedTokens(chars),
  };
  await writeJson(store, manifestKey, out);
  return out;
}

/** The documents of assembled shards, one at a time, with their JSONL line. */
async function* shardDocuments(store: ArtifactStore, shardKeys: string[]) {
  for (const key of shardKeys)
    for (const line of (await store.get(key)).toString('utf8').split('\n'))
      if (line.trim()) yield { doc: JSON.parse(line) as CorpusDocument, line };
}

/** A manifest assembled before estimatedTokens was recorded: counted from its shards (the stored file stays as is). */
async function withEstimatedTokens(store: ArtifactStore, m: CorpusManifestRef): Promise<CorpusManifestRef> {
  if (m.estimatedTokens !== undefined) return m;
  let chars = 0;
  for await (const { doc } of shardDocuments(store, m.shardKeys)) chars += doc.text.length;
  return { ...m, estimatedTokens: estimatedTokens(chars) };
}
