import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { reproducibilityOf, weakestReproducibility, type Reproducibility } from '../llm/seed';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { contentId, sha256Hex } from '../util/hash';
import { NearDuplicateIndex } from './minhash';
import { docKeysOf, idOfKey, selected } from './selection';
import type { AssemblySettings, CorpusDocument, CorpusManifestRef, CorpusRef } from './types';

/** Documents per JSONL shard. */
const SHARD = 1000;

/** A corpus with no usable document: bad settings, never retried (the message says which to change). */
export class EmptyCorpusError extends Error {
  override name = 'EmptyCorpusError';
}

interface Collected {
  lines: string[];
  dropped: { empty: number; truncated: number; nearDuplicates: number };
  truncated: number;
  documentUsage: Usage;
  reproducible: Set<Reproducibility>;
}

/** Every selected document read once: kept as a JSONL line, or counted as the drop it is. */
async function collect(
  store: ArtifactStore,
  keys: string[],
  settings: AssemblySettings,
  onDocument: (kept: number) => void,
) {
  const index = new NearDuplicateIndex(settings.nearDuplicateThreshold);
  const c: Collected = {
    lines: [],
    dropped: { empty: 0, truncated: 0, nearDuplicates: 0 },
    truncated: 0,
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
      c.lines.push(JSON.stringify(doc));
    }
    onDocument(c.lines.length);
  }
  return c;
}

async function writeShards(store: ArtifactStore, folder: string, lines: string[]): Promise<string[]> {
  const shardKeys: string[] = [];
  for (let s = 0; s * SHARD < lines.length; s++) {
    const key = `${folder}/shards/docs-${String(s).padStart(5, '0')}.jsonl`;
    await store.put(key, lines.slice(s * SHARD, (s + 1) * SHARD).join('\n') + '\n');
    shardKeys.push(key);
  }
  return shardKeys;
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
  if (await store.exists(manifestKey)) return readJson<CorpusManifestRef>(store, manifestKey);
  const keys = (await docKeysOf(store, ref.prefix)).filter((k) => selected(idOfKey(k), ref.selection));
  const c = await collect(store, keys, settings, onDocument);
  if (c.lines.length === 0) {
    throw new EmptyCorpusError(
      `corpus ${ref.prefix} has no usable documents out of ${keys.length} (${c.dropped.empty} empty, ${c.dropped.truncated} truncated, ` +
        `${c.dropped.nearDuplicates} near-duplicates): raise generation.maxDocTokens, or set generation.truncated: "keep"`,
    );
  }
  const manifest: CorpusManifestRef = {
    manifestKey,
    hash: sha256Hex(c.lines.join('\n')),
    documents: c.lines.length,
    duplicatesRemoved: c.dropped.nearDuplicates,
    truncatedDropped: c.dropped.truncated,
    truncated: c.truncated,
    shardKeys: await writeShards(store, out, c.lines),
    documentUsage: c.documentUsage,
    reproducible: weakestReproducibility(c.reproducible),
  };
  await writeJson(store, manifestKey, manifest);
  return manifest;
}
