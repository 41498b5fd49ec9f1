import { setHandler, upsertSearchAttributes, setCurrentDetails } from '@temporalio/workflow';
import type { CorpusJob } from '../activities/corpus-activities';
import type { CorpusManifestRef } from '../activities/types';
import { llm } from './activity-proxies';
import { runBounded } from './bounded';
import { corpusProgressQuery, pauseSignal, resumeSignal, setConcurrencyUpdate, type CorpusProgress } from './definitions';
import { MSM_STAGE } from './search-attributes';

/**
 * Corpus generation: spec -> domains/subdomains (units) -> types -> ideas -> documents, fanned out in
 * batches of units. Every item is stored under a deterministic key, so a retry or a re-run only pays for
 * what is missing. The result is the corpus manifest (URI + hash), never the documents.
 */
export async function corpusGeneration(job: CorpusJob): Promise<CorpusManifestRef> {
  const progress: CorpusProgress = {
    units: 0,
    unitsWithIdeas: 0,
    unitsWithDocs: 0,
    documentsGenerated: 0,
    documentsReused: 0,
    truncated: 0,
    llmCalls: 0,
    paused: false,
  };
  let concurrency = job.generation.concurrency;
  setHandler(corpusProgressQuery, () => progress);
  setHandler(pauseSignal, () => void (progress.paused = true));
  setHandler(resumeSignal, () => void (progress.paused = false));
  setHandler(setConcurrencyUpdate, (n) => (concurrency = n), {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error('concurrency must be an integer in 1..256');
    },
  });
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'corpus' }]);

  const ref = await llm.planCorpus(job);
  progress.units = ref.units;
  const size = job.generation.batchUnits;
  const batches = Math.ceil(ref.units / size);
  await runBounded(batches, () => concurrency, () => !progress.paused, async (b) => {
    const range = { from: b * size, to: Math.min(ref.units, (b + 1) * size) };
    const ideas = await llm.generateTypesAndIdeas(job, ref, range);
    progress.unitsWithIdeas += range.to - range.from;
    progress.llmCalls += ideas.llmCalls;
    const docs = await llm.generateDocuments(job, ref, range);
    progress.unitsWithDocs += range.to - range.from;
    progress.documentsGenerated += docs.generated;
    progress.documentsReused += docs.reused;
    progress.truncated += docs.truncated;
    progress.llmCalls += docs.llmCalls;
    setCurrentDetails(`corpus: ${progress.unitsWithDocs}/${progress.units} units, ${progress.documentsGenerated + progress.documentsReused} documents`);
  });
  const { nearDuplicateThreshold, truncated } = job.generation;
  return llm.assembleCorpus(ref, { nearDuplicateThreshold, truncated });
}
