import { CHARS_PER_TOKEN } from '../config/corpus-size';
import type { Experiment } from '../config/experiment-schema';
import { usageOf, type Price, type TokenUsage } from '../cost/usage';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import { ideasKey, typesKey, unitsKey } from './keys';
import { documentPrompt } from './prompts';
import { docKeysOf, idOfKey, selected, selectionOf } from './selection';
import { storedItems, unitInContext, type Unit } from './stages';
import type { CorpusDocument, CorpusJob, CorpusPreview, CorpusRef } from './types';

/** Written documents read to project per-document tokens and cost. */
const PREVIEW_SAMPLE = 200;

type Sample = { unit: number; type: string; idea: string };

/** How many documents the stored ideas of the first `units` units make, and one of them to price a prompt by. */
async function countDocuments(store: ArtifactStore, prefix: string, units: number, g: Experiment['generation']) {
  let documents = 0;
  let sample: Sample | undefined;
  for (let u = 0; u < units; u++) {
    const types = await storedItems<string>(store, typesKey(prefix, u), g.typesPerUnit);
    for (let t = 0; t < types.length; t++) {
      const ideas = await storedItems<string>(store, ideasKey(prefix, u, t), g.ideasPerType);
      documents += ideas.length;
      sample ??= ideas.length ? { unit: u, type: types[t], idea: ideas[0] } : undefined;
    }
  }
  return { documents, sample };
}

/** Mean usage of the written documents sampled (a pilot). */
function averageUsage(sampled: CorpusDocument[]): TokenUsage {
  const avg = (f: (u: CorpusDocument['usage']) => number | undefined) =>
    sampled.reduce((n, d) => n + (f(d.usage) ?? 0), 0) / sampled.length;
  return {
    inputTokens: avg((u) => u.inputTokens),
    outputTokens: avg((u) => u.outputTokens),
    cacheWriteTokens: avg((u) => u.cacheWriteTokens),
    cacheReadTokens: avg((u) => u.cacheReadTokens),
  };
}

/** No pilot: the sample's prompt length (about 4 characters a token in English prose) and the maxDocTokens cap. */
async function cappedUsage(
  store: ArtifactStore,
  job: CorpusJob,
  prefix: string,
  sample: Sample | undefined,
): Promise<TokenUsage> {
  const g = job.generation;
  const spec = (await store.get(job.specKey)).toString('utf8');
  const units = await readJson<Unit[]>(store, unitsKey(prefix));
  const unit = sample && (await unitInContext(store, prefix, units, sample.unit));
  const p =
    sample && unit
      ? documentPrompt(spec, unit, sample.type, sample.idea, {
          maxTokens: g.maxDocTokens,
          identity: job.identity,
        })
      : undefined;
  const chars = p ? p.messages.reduce((n, m) => n + m.content.length, 0) : 0;
  return { inputTokens: Math.ceil(chars / CHARS_PER_TOKEN), outputTokens: g.maxDocTokens };
}

/**
 * Project the document stage from the ideas already stored: how many documents, tokens and dollars.
 * Per-document figures come from documents already written when there are any (a pilot), else from
 * the prompt length and the maxDocTokens cap (an upper bound).
 */
export async function projectCorpus(
  store: ArtifactStore,
  job: CorpusJob,
  ref: CorpusRef & { units: number },
  price: Price | undefined,
): Promise<CorpusPreview> {
  const g = job.generation;
  const { documents, sample } = await countDocuments(store, ref.prefix, ref.units, g);
  // Documents of this run's selection only: the folder may hold more from a run with larger counts.
  const doneKeys = (await docKeysOf(store, ref.prefix)).filter((k) =>
    selected(idOfKey(k), ref.selection ?? selectionOf(ref.units, g)),
  );
  // Per-document figures from a sample of what is written: the preview runs on every corpus run, and
  // reading all of a 40k-document corpus here (assembly reads it anyway) would cost minutes for nothing.
  const sampled = await Promise.all(doneKeys.slice(0, PREVIEW_SAMPLE).map((k) => readJson<CorpusDocument>(store, k)));
  const perDoc = sampled.length ? averageUsage(sampled) : await cappedUsage(store, job, ref.prefix, sample);
  const remaining = Math.max(0, documents - doneKeys.length);
  const scale = (n: number | undefined) => Math.round((n ?? 0) * remaining);
  // Priced like the pilot was: cache writes and reads apart, and at the batch discount in batch mode.
  const projected = usageOf(
    {
      inputTokens: scale(perDoc.inputTokens),
      outputTokens: scale(perDoc.outputTokens),
      cacheWriteTokens: scale(perDoc.cacheWriteTokens),
      cacheReadTokens: scale(perDoc.cacheReadTokens),
    },
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
}
