import { Context } from '@temporalio/activity';
import type { Experiment } from '../config/experiment-schema';
import {
  PROMPT_VERSION,
  documentPrompt,
  documentTypesPrompt,
  domainsOutputSchema,
  domainsPrompt,
  ideasOutputSchema,
  ideasPrompt,
  typesOutputSchema,
} from '../corpus/prompts';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId, sha256Hex } from '../util/hash';
import { badInput } from './failures';
import { addUsage, NO_USAGE, usageOf, type TokenUsage, type Usage } from '../cost/usage';
import { complete, completeJson, priceOf, providerId, usageFor } from './llm-call';
import type { CorpusManifestRef, CorpusPreview, CorpusRef, DocumentBatchResult, UnitRange } from './types';
import { NearDuplicateIndex } from '../corpus/minhash';
import { documentRecord, generateDocumentsInBatch } from './document-stage';

/** Written documents read to project per-document tokens and cost. */
const PREVIEW_SAMPLE = 200;

export type AssemblySettings = Pick<Experiment['generation'], 'nearDuplicateThreshold' | 'truncated'>;

export interface CorpusJob {
  storeUri: string;
  specKey: string;
  specHash: string;
  generation: Experiment['generation'];
}

export interface Unit {
  domain: string;
  subdomain: string;
  specSection: string;
}

export interface CorpusDocument {
  id: string;
  text: string;
  truncated: boolean;
  domain: string;
  subdomain: string;
  specSection: string;
  type: string;
  idea: string;
  specHash: string;
  promptVersion: string;
  generator: string;
  /** As reported (Anthropic: inputTokens are the uncached ones, cache writes and reads apart) and what it cost. */
  usage: TokenUsage & { costUsd?: number };
}

const pad = (n: number, w = 4) => String(n).padStart(w, '0');
export const unitsKey = (prefix: string) => `${prefix}/units.json`;
export const typesKey = (prefix: string, u: number) => `${prefix}/types/u${pad(u)}.json`;
export const ideasKey = (prefix: string, u: number, t: number) => `${prefix}/ideas/u${pad(u)}-t${pad(t, 2)}.json`;
export const docKey = (prefix: string, id: string) => `${prefix}/docs/${id}.json`;
export const docId = (u: number, t: number, i: number) => `u${pad(u)}-t${pad(t, 2)}-i${pad(i, 2)}`;

/** Everything that changes the corpus goes into its id, so equal inputs reuse one corpus across experiments. */
export function corpusPrefix(job: CorpusJob): string {
  const g = job.generation;
  return `corpus/${contentId({
    spec: job.specHash,
    prompts: PROMPT_VERSION,
    generator: providerId(g.provider),
    temperature: g.temperature,
    domains: g.domains,
    maxUnits: g.maxUnits,
    typesPerUnit: g.typesPerUnit,
    ideasPerType: g.ideasPerType,
    maxDocTokens: g.maxDocTokens,
  })}`;
}

/** Run `fn` for each missing key only: a retry or re-run never pays for an item twice. */
async function onceFor<T>(store: ArtifactStore, key: string, fn: () => Promise<T>): Promise<{ value: T; fresh: boolean }> {
  if (await store.exists(key)) return { value: await readJson<T>(store, key), fresh: false };
  const value = await fn();
  await writeJson(store, key, value);
  return { value, fresh: true };
}

export function createCorpusActivities() {
  return {
    /** Stage 1: spec -> domains -> subdomains (units), each tied to the spec section it covers. */
    async planCorpus(job: CorpusJob): Promise<CorpusRef & { units: number; usage: Usage }> {
      const store = openStore(job.storeUri);
      const prefix = corpusPrefix(job);
      const spec = (await store.get(job.specKey)).toString('utf8');
      const g = job.generation;
      let usage = NO_USAGE;
      const { value: units } = await onceFor<Unit[]>(store, unitsKey(prefix), async () => {
        const p = domainsPrompt(spec, { count: g.domains });
        const { value, result } = await completeJson(
          g.provider,
          { ...p, temperature: g.temperature, requestId: `${prefix}/domains` },
          domainsOutputSchema,
        );
        usage = usageFor(g.provider, result);
        await writeJson(store, `${prefix}/domains.json`, value);
        const flat: Unit[] = value.domains.flatMap((d) =>
          d.subdomains.length
            ? d.subdomains.map((s) => ({ domain: d.name, subdomain: s.name, specSection: s.specSection }))
            : [{ domain: d.name, subdomain: d.name, specSection: '' }],
        );
        return flat.slice(0, g.maxUnits);
      });
      return { storeUri: job.storeUri, prefix, units: units.length, usage };
    },

    /** Stages 2-3 for a range of units: document types per unit, then ideas per type. */
    async generateTypesAndIdeas(job: CorpusJob, ref: CorpusRef, range: UnitRange): Promise<{ ideas: number; llmCalls: number; usage: Usage }> {
      const store = openStore(ref.storeUri);
      const spec = (await store.get(job.specKey)).toString('utf8');
      const units = await readJson<Unit[]>(store, unitsKey(ref.prefix));
      const g = job.generation;
      let ideas = 0;
      let llmCalls = 0;
      let usage = NO_USAGE;
      for (let u = range.from; u < range.to; u++) {
        const unit = units[u];
        const types = await onceFor<string[]>(store, typesKey(ref.prefix, u), async () => {
          llmCalls++;
          const p = documentTypesPrompt(spec, unit, { count: g.typesPerUnit, existing: [] });
          const { value, result } = await completeJson(
            g.provider,
            { ...p, temperature: g.temperature, requestId: typesKey(ref.prefix, u) },
            typesOutputSchema,
          );
          usage = addUsage(usage, usageFor(g.provider, result));
          return value.types.slice(0, g.typesPerUnit);
        });
        for (let t = 0; t < types.value.length; t++) {
          const got = await onceFor<string[]>(store, ideasKey(ref.prefix, u, t), async () => {
            llmCalls++;
            const p = ideasPrompt(spec, unit, types.value[t], { count: g.ideasPerType, existing: [] });
            const { value, result } = await completeJson(
              g.provider,
              { ...p, temperature: g.temperature, requestId: ideasKey(ref.prefix, u, t) },
              ideasOutputSchema,
            );
            usage = addUsage(usage, usageFor(g.provider, result));
            return value.ideas.slice(0, g.ideasPerType);
          });
          ideas += got.value.length;
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
        const types = await readJson<string[]>(store, typesKey(ref.prefix, u));
        for (let t = 0; t < types.length; t++) {
          const ideas = await readJson<string[]>(store, ideasKey(ref.prefix, u, t));
          for (let i = 0; i < ideas.length; i++) {
            const id = docId(u, t, i);
            const got = await onceFor<CorpusDocument>(store, docKey(ref.prefix, id), async () => {
              out.llmCalls++;
              const p = documentPrompt(spec, units[u], types[t], ideas[i], { maxTokens: g.maxDocTokens });
              const res = await complete(g.provider, { ...p, temperature: g.temperature, requestId: docKey(ref.prefix, id) });
              const cost = usageFor(g.provider, res);
              out.usage = addUsage(out.usage, cost);
              return documentRecord(job, { id, unit: units[u], type: types[t], idea: ideas[i] }, res, cost);
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
      let sample: { unit: Unit; type: string; idea: string } | undefined;
      for (let u = 0; u < ref.units; u++) {
        const types = await readJson<string[]>(store, typesKey(ref.prefix, u));
        for (let t = 0; t < types.length; t++) {
          const ideas = await readJson<string[]>(store, ideasKey(ref.prefix, u, t));
          documents += ideas.length;
          sample ??= ideas.length ? { unit: units[u], type: types[t], idea: ideas[0] } : undefined;
        }
      }
      const doneKeys = (await store.list(`${ref.prefix}/docs/`)).filter((k) => k.endsWith('.json'));
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
        const p = sample ? documentPrompt(spec, sample.unit, sample.type, sample.idea, { maxTokens: g.maxDocTokens }) : undefined;
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
     * ones dropped or kept flagged as configured, every drop counted. The assembly has its own folder,
     * keyed by those settings, so changing them re-assembles without paying for a document again. The
     * manifest is written last and carries the corpus hash.
     */
    async assembleCorpus(ref: CorpusRef, settings: AssemblySettings): Promise<CorpusManifestRef> {
      const store = openStore(ref.storeUri);
      const out = `${ref.prefix}/assembled-${contentId(settings)}`;
      const manifestKey = `${out}/manifest.json`;
      if (await store.exists(manifestKey)) return readJson<CorpusManifestRef>(store, manifestKey);
      const keys = (await store.list(`${ref.prefix}/docs/`)).filter((k) => k.endsWith('.json'));
      const index = new NearDuplicateIndex(settings.nearDuplicateThreshold);
      const lines: string[] = [];
      const dropped = { empty: 0, truncated: 0, nearDuplicates: 0 };
      let documentUsage = NO_USAGE;
      let truncated = 0;
      for (const key of keys) {
        const doc = await readJson<CorpusDocument>(store, key);
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
      };
      await writeJson(store, manifestKey, manifest);
      return manifest;
    },
  };
}
