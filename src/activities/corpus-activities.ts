import { Context } from '@temporalio/activity';
import type { Experiment } from '../config/experiment-schema';
import type { ZodType } from 'zod';
import { documentPrompt, documentTypesPrompt, ideasOutputSchema, ideasPrompt, typesOutputSchema, type Prompt } from '../corpus/prompts';
import { promptSha256 } from '../corpus/stage-list';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId, sha256Hex } from '../util/hash';
import { badInput } from './failures';
import { addUsage, NO_USAGE, usageOf, type TokenUsage, type Usage } from '../cost/usage';
import { complete, completeJson, priceOf, usageFor } from './llm-call';
import { reproducibilityOf, requestSeed, weakestReproducibility, type Reproducibility } from '../llm/seed';
import type {
  AssemblySettings,
  CorpusDocument,
  CorpusJob,
  CorpusManifestRef,
  CorpusPreview,
  CorpusRef,
  CorpusSelection,
  DocumentBatchResult,
  UnitRange,
} from '../corpus/types';
import { NearDuplicateIndex } from '../corpus/minhash';
import { documentRecord, generateDocumentsInBatch } from '../corpus/document-stage';
import { corpusPrefix, docId, docKey, docPosition, ideasKey, typesKey, unitsKey } from '../corpus/keys';
import { ensureAssertions, planUnits, storedItems, topUpList, unitInContext, type Unit } from '../corpus/stages';

export { corpusPrefix, unitsKey } from '../corpus/keys';
export type { Unit } from '../corpus/stages';

/** Written documents read to project per-document tokens and cost. */
const PREVIEW_SAMPLE = 200;

const pad = (n: number, w = 4) => String(n).padStart(w, '0');

const idOfKey = (key: string) => key.slice(key.lastIndexOf('/') + 1).replace(/\.json$/, '');

/** Document keys of a corpus in position order (unit, type, idea), which key order matches only below 100 types or ideas. */
async function docKeysOf(store: ArtifactStore, prefix: string): Promise<string[]> {
  const keys = (await store.list(`${prefix}/docs/`)).filter((k) => k.endsWith('.json'));
  const rank = (k: string) => {
    const p = docPosition(idOfKey(k));
    return p ? [p.u, p.t, p.i] : [Infinity, 0, 0];
  };
  return keys.sort((a, b) => {
    const x = rank(a);
    const y = rank(b);
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2] || (a < b ? -1 : a > b ? 1 : 0);
  });
}

/** Does document `id` lie within the selection (all documents when there is none)? */
function selected(id: string, sel: CorpusSelection | undefined): boolean {
  if (!sel) return true;
  const p = docPosition(id);
  return !!p && p.u < sel.units && p.t < sel.typesPerUnit && p.i < sel.ideasPerType;
}

const selectionOf = (units: number, g: Experiment['generation']): CorpusSelection => ({ units, typesPerUnit: g.typesPerUnit, ideasPerType: g.ideasPerType });

/** Run `fn` for each missing key only: a retry or re-run never pays for an item twice. */
async function onceFor<T>(store: ArtifactStore, key: string, fn: () => Promise<T>): Promise<{ value: T; fresh: boolean }> {
  if (await store.exists(key)) return { value: await readJson<T>(store, key), fresh: false };
  const value = await fn();
  await writeJson(store, key, value);
  return { value, fresh: true };
}

export function createCorpusActivities() {
  return {
    /**
     * Stage 1: spec -> domains -> units ((domain, subdomain) tied to a spec section, or (domain, rule) in
     * rules mode). A stored plan is reused and topped up when `domains` grew; the ref says which part of
     * it this run uses.
     */
    async planCorpus(job: CorpusJob): Promise<CorpusRef & { units: number; usage: Usage }> {
      const store = openStore(job.storeUri);
      const prefix = corpusPrefix(job);
      const markdown = (await store.get(job.specKey)).toString('utf8');
      const { selected, usage } = await planUnits(store, prefix, { markdown, source: job.specKey }, job.generation);
      return { storeUri: job.storeUri, prefix, selection: selectionOf(selected, job.generation), units: selected, usage };
    },

    /**
     * Stages 1b-3 for a range of units: the unit's assertions (assertions mode), its document types, then
     * ideas per type. Each list is topped up to this run's count (only the missing number is asked for,
     * with the stored items listed) or cut to its first n.
     */
    async generateTypesAndIdeas(job: CorpusJob, ref: CorpusRef, range: UnitRange): Promise<{ ideas: number; llmCalls: number; usage: Usage }> {
      const store = openStore(ref.storeUri);
      const spec = (await store.get(job.specKey)).toString('utf8');
      const units = await readJson<Unit[]>(store, unitsKey(ref.prefix));
      const g = job.generation;
      let ideas = 0;
      let llmCalls = 0;
      let usage = NO_USAGE;
      const ask = async <T>(p: Prompt, requestId: string, schema: ZodType<T>) => {
        const { value, result } = await completeJson(g.provider, { ...p, temperature: g.temperature, requestId }, schema);
        usage = addUsage(usage, usageFor(g.provider, result));
        return value;
      };
      for (let u = range.from; u < range.to; u++) {
        if (g.mode !== 'rules') {
          const a = await ensureAssertions(store, ref.prefix, spec, units, u, g);
          llmCalls += a.calls;
          usage = addUsage(usage, a.usage);
        }
        const unit = await unitInContext(store, ref.prefix, units, u);
        const types = await topUpList<string>(
          store,
          typesKey(ref.prefix, u),
          g.typesPerUnit,
          async (count, existing) => {
            const prompt = documentTypesPrompt(spec, unit, { count, existing });
            const value = await ask(prompt, `${typesKey(ref.prefix, u)}#${existing.length}`, typesOutputSchema);
            return { items: value.types, prompt };
          },
          (x) => x,
        );
        llmCalls += types.calls;
        for (let t = 0; t < types.items.length; t++) {
          const got = await topUpList<string>(
            store,
            ideasKey(ref.prefix, u, t),
            g.ideasPerType,
            async (count, existing) => {
              const prompt = ideasPrompt(spec, unit, types.items[t], { count, existing });
              const value = await ask(prompt, `${ideasKey(ref.prefix, u, t)}#${existing.length}`, ideasOutputSchema);
              return { items: value.ideas, prompt };
            },
            (x) => x,
          );
          llmCalls += got.calls;
          ideas += got.items.length;
          Context.current().heartbeat({ unit: u, type: t });
        }
      }
      return { ideas, llmCalls, usage };
    },

    /** Stage 4 for a range of units: one document per idea, scratchpad stripped, truncation flagged. */
    async generateDocuments(job: CorpusJob, ref: CorpusRef, range: UnitRange): Promise<DocumentBatchResult> {
      const store = openStore(ref.storeUri);
      const spec = (await store.get(job.specKey)).toString('utf8');
      const units = await readJson<Unit[]>(store, unitsKey(ref.prefix));
      const g = job.generation;
      const out: DocumentBatchResult = { generated: 0, reused: 0, truncated: 0, llmCalls: 0, usage: NO_USAGE };
      if (g.batch) return generateDocumentsInBatch(job, ref, range, { spec, units });
      for (let u = range.from; u < range.to; u++) {
        const types = await storedItems<string>(store, typesKey(ref.prefix, u), g.typesPerUnit);
        const unit = await unitInContext(store, ref.prefix, units, u);
        for (let t = 0; t < types.length; t++) {
          const ideas = await storedItems<string>(store, ideasKey(ref.prefix, u, t), g.ideasPerType);
          for (let i = 0; i < ideas.length; i++) {
            const id = docId(u, t, i);
            const got = await onceFor<CorpusDocument>(store, docKey(ref.prefix, id), async () => {
              out.llmCalls++;
              const p = documentPrompt(spec, unit, types[t], ideas[i], { maxTokens: g.maxDocTokens });
              const request = { ...p, temperature: g.temperature, requestId: docKey(ref.prefix, id) };
              const res = await complete(g.provider, request);
              const cost = usageFor(g.provider, res);
              out.usage = addUsage(out.usage, cost);
              return documentRecord(job, { id, unit: units[u], type: types[t], idea: ideas[i], promptSha256: promptSha256(p), seed: requestSeed(request) }, res, cost);
            });
            if (got.fresh) out.generated++;
            else out.reused++;
            if (got.value.truncated) out.truncated++;
            Context.current().heartbeat({ lastDoc: id, ...out });
          }
        }
      }
      return out;
    },

    /**
     * Project the document stage from the ideas already stored: how many documents, tokens and dollars.
     * Per-document figures come from documents already written when there are any (a pilot), else from
     * the prompt length and the maxDocTokens cap (an upper bound).
     */
    async previewCorpus(job: CorpusJob, ref: CorpusRef & { units: number }): Promise<CorpusPreview> {
      const store = openStore(ref.storeUri);
      const spec = (await store.get(job.specKey)).toString('utf8');
      const units = await readJson<Unit[]>(store, unitsKey(ref.prefix));
      const g = job.generation;
      let documents = 0;
      let sample: { unit: number; type: string; idea: string } | undefined;
      for (let u = 0; u < ref.units; u++) {
        const types = await storedItems<string>(store, typesKey(ref.prefix, u), g.typesPerUnit);
        for (let t = 0; t < types.length; t++) {
          const ideas = await storedItems<string>(store, ideasKey(ref.prefix, u, t), g.ideasPerType);
          documents += ideas.length;
          sample ??= ideas.length ? { unit: u, type: types[t], idea: ideas[0] } : undefined;
        }
      }
      // Documents of this run's selection only: the folder may hold more from a run with larger counts.
      const doneKeys = (await docKeysOf(store, ref.prefix)).filter((k) => selected(idOfKey(k), ref.selection ?? selectionOf(ref.units, g)));
      // Per-document figures from a sample of what is written: the preview runs on every corpus run, and
      // reading all of a 40k-document corpus here (assembly reads it anyway) would cost minutes for nothing.
      const sampled = await Promise.all(doneKeys.slice(0, PREVIEW_SAMPLE).map((k) => readJson<CorpusDocument>(store, k)));
      const price = priceOf(g.provider);
      let perDoc: TokenUsage;
      if (sampled.length) {
        const avg = (f: (u: CorpusDocument['usage']) => number | undefined) => sampled.reduce((n, d) => n + (f(d.usage) ?? 0), 0) / sampled.length;
        perDoc = {
          inputTokens: avg((u) => u.inputTokens),
          outputTokens: avg((u) => u.outputTokens),
          cacheWriteTokens: avg((u) => u.cacheWriteTokens),
          cacheReadTokens: avg((u) => u.cacheReadTokens),
        };
      } else {
        // About 4 characters a token in English prose: a projection, said to be one in `basis`.
        const unit = sample && (await unitInContext(store, ref.prefix, units, sample.unit));
        const p = sample && unit ? documentPrompt(spec, unit, sample.type, sample.idea, { maxTokens: g.maxDocTokens }) : undefined;
        const chars = p ? p.messages.reduce((n, m) => n + m.content.length, 0) : 0;
        perDoc = { inputTokens: Math.ceil(chars / 4), outputTokens: g.maxDocTokens };
      }
      const remaining = Math.max(0, documents - doneKeys.length);
      const scale = (n: number | undefined) => Math.round((n ?? 0) * remaining);
      // Priced like the pilot was: cache writes and reads apart, and at the batch discount in batch mode.
      const projected = usageOf(
        { inputTokens: scale(perDoc.inputTokens), outputTokens: scale(perDoc.outputTokens), cacheWriteTokens: scale(perDoc.cacheWriteTokens), cacheReadTokens: scale(perDoc.cacheReadTokens) },
        price,
        { batch: g.batch },
      );
      return {
        units: ref.units,
        documents,
        documentsDone: doneKeys.length,
        projectedInputTokens: projected.inputTokens,
        projectedOutputTokens: projected.outputTokens,
        projectedCostUsd: projected.costUsd,
        basis: doneKeys.length ? 'pilot' : 'cap',
        sampleUris: doneKeys.slice(0, 5).map((k) => store.uri(k)),
      };
    },

    /**
     * Collect documents into JSONL shards: empty ones dropped, near-duplicates (MinHash) removed, truncated
     * ones dropped or kept flagged as configured, every drop counted. Only documents within the ref's
     * selection are taken. The assembly has its own folder, keyed by those settings and the selection, so changing them re-assembles without paying for a document again. The
     * manifest is written last and carries the corpus hash.
     */
    async assembleCorpus(ref: CorpusRef, settings: AssemblySettings): Promise<CorpusManifestRef> {
      const store = openStore(ref.storeUri);
      // Keyed by the selection too: other counts make another corpus (and hash) from the same folder.
      const out = `${ref.prefix}/assembled-${contentId(ref.selection ? { ...settings, selection: ref.selection } : settings)}`;
      const manifestKey = `${out}/manifest.json`;
      if (await store.exists(manifestKey)) return readJson<CorpusManifestRef>(store, manifestKey);
      const keys = (await docKeysOf(store, ref.prefix)).filter((k) => selected(idOfKey(k), ref.selection));
      const index = new NearDuplicateIndex(settings.nearDuplicateThreshold);
      const lines: string[] = [];
      const dropped = { empty: 0, truncated: 0, nearDuplicates: 0 };
      let documentUsage = NO_USAGE;
      let truncated = 0;
      const reproducible = new Set<Reproducibility>();
      for (const key of keys) {
        const doc = await readJson<CorpusDocument>(store, key);
        reproducible.add(doc.seed === undefined ? 'no' : reproducibilityOf(doc.generator.split(':')[0]));
        const { inputTokens, outputTokens, costUsd = 0, cacheWriteTokens = 0, cacheReadTokens = 0 } = doc.usage;
        documentUsage = addUsage(documentUsage, { calls: 1, inputTokens: inputTokens + cacheWriteTokens + cacheReadTokens, outputTokens, costUsd });
        if (!doc.text) dropped.empty++;
        else if (doc.truncated && settings.truncated === 'drop') dropped.truncated++;
        else if (index.add(doc.id, doc.text) !== null) dropped.nearDuplicates++;
        else {
          if (doc.truncated) truncated++;
          lines.push(JSON.stringify(doc));
        }
        Context.current().heartbeat({ assembled: lines.length });
      }
      if (lines.length === 0) {
        throw badInput(
          `corpus ${ref.prefix} has no usable documents out of ${keys.length} (${dropped.empty} empty, ${dropped.truncated} truncated, ` +
            `${dropped.nearDuplicates} near-duplicates): raise generation.maxDocTokens, or set generation.truncated: "keep"`,
        );
      }
      const SHARD = 1000;
      const shardKeys: string[] = [];
      for (let s = 0; s * SHARD < lines.length; s++) {
        const key = `${out}/shards/docs-${pad(s, 5)}.jsonl`;
        await store.put(key, lines.slice(s * SHARD, (s + 1) * SHARD).join('\n') + '\n');
        shardKeys.push(key);
      }
      const manifest: CorpusManifestRef = {
        manifestKey,
        hash: sha256Hex(lines.join('\n')),
        documents: lines.length,
        duplicatesRemoved: dropped.nearDuplicates,
        truncatedDropped: dropped.truncated,
        truncated,
        shardKeys,
        documentUsage,
        reproducible: weakestReproducibility(reproducible),
      };
      await writeJson(store, manifestKey, manifest);
      return manifest;
    },
  };
}
