import { Context } from '@temporalio/activity';
import type { ZodType } from 'zod';
import { assembleCorpusFolder, EmptyCorpusError } from '../corpus/assemble';
import { documentRecord, generateDocumentsInBatch } from '../corpus/document-stage';
import { corpusPrefix, docId, docKey, ideasKey, typesKey, unitsKey } from '../corpus/keys';
import { projectCorpus } from '../corpus/preview';
import {
  documentPrompt,
  documentTypesPrompt,
  ideasOutputSchema,
  ideasPrompt,
  promptVersionOf,
  typesOutputSchema,
  type Prompt,
} from '../corpus/prompts';
import { selectionOf } from '../corpus/selection';
import { unitsForTarget } from '../corpus/target';
import { promptSha256 } from '../corpus/stage-list';
import {
  ensureAssertions,
  planUnits,
  planUnitsFor,
  storedItems,
  topUpList,
  unitInContext,
  type Unit,
} from '../corpus/stages';
import type {
  AssemblySettings,
  CorpusDocument,
  CorpusJob,
  CorpusManifestRef,
  CorpusPreview,
  CorpusRef,
  DocumentBatchResult,
  UnitRange,
} from '../corpus/types';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { requestSeed } from '../llm/seed';
import type { ArtifactStore } from '../store/artifact-store';
import { onceFor, readJson } from '../store/json';
import { openStore } from '../store/open-store';
import { badInput } from '../temporal/failures';
import { complete, completeJson, priceOf, usageFor } from '../llm/call';

export { corpusPrefix, unitsKey } from '../corpus/keys';
export type { Unit } from '../corpus/stages';

/**
 * Stage 1: spec -> domains -> units ((domain, subdomain) tied to a spec section, or (domain, rule) in
 * rules mode). A stored plan is reused and topped up when `domains` grew; the ref says which part of
 * it this run uses. With generation.targetTokens (or `want`, a top-up round's units) the units come from
 * the target, and domains are added while the plan has fewer.
 */
async function planCorpus(
  job: CorpusJob,
  want?: { units: number },
): Promise<CorpusRef & { units: number; usage: Usage }> {
  const store = openStore(job.storeUri);
  const markdown = (await store.get(job.specKey)).toString('utf8');
  const prefix = corpusPrefix(job, markdown);
  const spec = { markdown, source: job.specKey, identity: job.identity };
  const wanted = want?.units ?? unitsForTarget(job.generation);
  const { selected, usage } =
    wanted === undefined
      ? await planUnits(store, prefix, spec, job.generation)
      : await planUnitsFor(store, prefix, spec, job.generation, wanted);
  return { storeUri: job.storeUri, prefix, selection: selectionOf(selected, job.generation), units: selected, usage };
}

interface UnitContext {
  store: ArtifactStore;
  job: CorpusJob;
  ref: CorpusRef;
  spec: string;
  units: Unit[];
}

type Tally = { ideas: number; llmCalls: number; usage: Usage };

/** Unit u's document types, then each type's ideas, each list topped up to this run's count. */
async function typesAndIdeasOf(c: UnitContext, u: number, out: Tally): Promise<void> {
  const { store, ref, spec } = c;
  const g = c.job.generation;
  const ask = async <T>(p: Prompt, requestId: string, schema: ZodType<T>) => {
    const { value, result } = await completeJson(g.provider, { ...p, temperature: g.temperature, requestId }, schema);
    out.usage = addUsage(out.usage, usageFor(g.provider, result));
    return value;
  };
  const unit = await unitInContext(store, ref.prefix, c.units, u);
  const types = await topUpList<string>(
    store,
    typesKey(ref.prefix, u),
    g.typesPerUnit,
    async (count, existing) => {
      const prompt = documentTypesPrompt(spec, unit, { count, existing, identity: c.job.identity });
      const value = await ask(prompt, `${typesKey(ref.prefix, u)}#${existing.length}`, typesOutputSchema);
      return { items: value.types, prompt };
    },
    (x) => x,
  );
  out.llmCalls += types.calls;
  for (let t = 0; t < types.items.length; t++) {
    const got = await topUpList<string>(
      store,
      ideasKey(ref.prefix, u, t),
      g.ideasPerType,
      async (count, existing) => {
        const prompt = ideasPrompt(spec, unit, types.items[t], { count, existing, identity: c.job.identity });
        const value = await ask(prompt, `${ideasKey(ref.prefix, u, t)}#${existing.length}`, ideasOutputSchema);
        return { items: value.ideas, prompt };
      },
      (x) => x,
    );
    out.llmCalls += got.calls;
    out.ideas += got.items.length;
    Context.current().heartbeat({ unit: u, type: t });
  }
}

async function unitContext(job: CorpusJob, ref: CorpusRef): Promise<UnitContext> {
  const store = openStore(ref.storeUri);
  const spec = (await store.get(job.specKey)).toString('utf8');
  return { store, job, ref, spec, units: await readJson<Unit[]>(store, unitsKey(ref.prefix)) };
}

/**
 * Stages 1b-3 for a range of units: the unit's assertions (assertions mode), its document types, then
 * ideas per type. Each list is topped up to this run's count (only the missing number is asked for,
 * with the stored items listed) or cut to its first n.
 */
async function generateTypesAndIdeas(job: CorpusJob, ref: CorpusRef, range: UnitRange): Promise<Tally> {
  const c = await unitContext(job, ref);
  const out: Tally = { ideas: 0, llmCalls: 0, usage: NO_USAGE };
  for (let u = range.from; u < range.to; u++) {
    if (job.generation.mode !== 'rules') {
      const a = await ensureAssertions(c.store, ref.prefix, c.spec, c.units, u, job.generation, job.identity);
      out.llmCalls += a.calls;
      out.usage = addUsage(out.usage, a.usage);
    }
    await typesAndIdeasOf(c, u, out);
  }
  return out;
}

/** Unit u's documents, one per stored idea, each written once. */
async function documentsOf(c: UnitContext, u: number, out: DocumentBatchResult): Promise<void> {
  const { store, ref, spec, job } = c;
  const g = job.generation;
  const types = await storedItems<string>(store, typesKey(ref.prefix, u), g.typesPerUnit);
  const unit = await unitInContext(store, ref.prefix, c.units, u);
  for (let t = 0; t < types.length; t++) {
    const ideas = await storedItems<string>(store, ideasKey(ref.prefix, u, t), g.ideasPerType);
    for (let i = 0; i < ideas.length; i++) {
      const id = docId(u, t, i);
      const got = await onceFor<CorpusDocument>(store, docKey(ref.prefix, id), async () => {
        out.llmCalls++;
        const p = documentPrompt(spec, unit, types[t], ideas[i], { maxTokens: g.maxDocTokens, identity: job.identity });
        const request = { ...p, temperature: g.temperature, requestId: docKey(ref.prefix, id) };
        const res = await complete(g.provider, request);
        const cost = usageFor(g.provider, res);
        out.usage = addUsage(out.usage, cost);
        const item = {
          id,
          unit: c.units[u],
          type: types[t],
          idea: ideas[i],
          promptVersion: promptVersionOf(spec),
          promptSha256: promptSha256(p),
          seed: requestSeed(request),
        };
        return documentRecord(job, item, res, cost);
      });
      if (got.fresh) out.generated++;
      else out.reused++;
      if (got.value.truncated) out.truncated++;
      Context.current().heartbeat({ lastDoc: id, ...out });
    }
  }
}

/** Stage 4 for a range of units: one document per idea, scratchpad stripped, truncation flagged. */
async function generateDocuments(job: CorpusJob, ref: CorpusRef, range: UnitRange): Promise<DocumentBatchResult> {
  const c = await unitContext(job, ref);
  if (job.generation.batch) return generateDocumentsInBatch(job, ref, range, { spec: c.spec, units: c.units });
  const out: DocumentBatchResult = { generated: 0, reused: 0, truncated: 0, llmCalls: 0, usage: NO_USAGE };
  for (let u = range.from; u < range.to; u++) await documentsOf(c, u, out);
  return out;
}

/** What the document stage will cost, from the ideas stored and the documents already written (src/corpus/preview.ts). */
async function previewCorpus(job: CorpusJob, ref: CorpusRef & { units: number }): Promise<CorpusPreview> {
  return projectCorpus(openStore(ref.storeUri), job, ref, priceOf(job.generation.provider));
}

/** The corpus as JSONL shards and a manifest (src/corpus/assemble.ts); no usable document is bad input. */
async function assembleCorpus(ref: CorpusRef, settings: AssemblySettings): Promise<CorpusManifestRef> {
  try {
    return await assembleCorpusFolder(openStore(ref.storeUri), ref, settings, (kept) =>
      Context.current().heartbeat({ assembled: kept }),
    );
  } catch (e) {
    if (e instanceof EmptyCorpusError) throw badInput(e.message, e);
    throw e;
  }
}

export function createCorpusActivities() {
  return { planCorpus, generateTypesAndIdeas, generateDocuments, previewCorpus, assembleCorpus };
}
