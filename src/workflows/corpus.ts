import { condition, patched, setHandler, upsertSearchAttributes, setCurrentDetails } from '@temporalio/workflow';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import type { CorpusJob, CorpusManifestRef } from '../corpus/types';
import { llm } from './activity-proxies';
import { runBounded } from './bounded';
import {
  approveUpdate,
  corpusProgressQuery,
  pauseSignal,
  resumeSignal,
  setBudgetUpdate,
  setConcurrencyUpdate,
  type CorpusProgress,
} from './definitions';
import { MSM_STAGE } from './search-attributes';

/**
 * Corpus generation: spec -> domains/subdomains (units) -> types -> ideas -> documents, fanned out in
 * batches of units. Every item is stored under a deterministic key, so a retry or a re-run only pays for
 * what is missing. The result is the corpus manifest (URI + hash), never the documents.
 */
export async function corpusGeneration(job: CorpusJob): Promise<CorpusManifestRef> {
  const progress: Omit<CorpusProgress, 'overBudget'> = {
    awaitingApproval: false,
    usage: NO_USAGE,
    budgetUsd: job.generation.budgetUsd ?? null,
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
  const spent = () => progress.budgetUsd !== null && progress.usage.costUsd >= progress.budgetUsd;
  setHandler(corpusProgressQuery, () => ({ ...progress, overBudget: spent() }));
  setHandler(pauseSignal, () => void (progress.paused = true));
  setHandler(resumeSignal, () => void (progress.paused = false));
  setHandler(setConcurrencyUpdate, (n) => (concurrency = n), {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error('concurrency must be an integer in 1..256');
    },
  });
  let approved = false;
  setHandler(
    approveUpdate,
    () => {
      approved = true;
      return progress.preview!;
    },
    {
      validator: () => {
        if (!progress.awaitingApproval) throw new Error('nothing to approve: this corpus is not waiting for approval');
      },
    },
  );
  setHandler(setBudgetUpdate, (usd) => ((progress.budgetUsd = usd), usd), {
    validator: (usd) => {
      if (!(typeof usd === 'number' && usd > 0)) throw new Error('budget must be a positive number of USD');
    },
  });
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'corpus' }]);

  // New paid work starts only within budget; calls in flight finish, so a run overshoots by at most one
  // activity per concurrency slot. `u` is absent from results recorded before cost metering existed.
  const charge = (u: Usage | undefined) => {
    if (!u) return;
    progress.usage = addUsage(progress.usage, u);
    if (spent()) {
      setCurrentDetails(
        `corpus: **paused on budget** — spent $${progress.usage.costUsd.toFixed(2)} of $${progress.budgetUsd}; raise it with the setBudget update`,
      );
    }
  };

  const ref = await llm.planCorpus(job);
  charge(ref.usage);
  progress.units = ref.units;
  const size = job.generation.batchUnits;
  const batches = Math.ceil(ref.units / size);
  const rangeOf = (b: number) => ({ from: b * size, to: Math.min(ref.units, (b + 1) * size) });
  const canStart = () => !progress.paused && !spent();

  const ideasFor = async (b: number) => {
    const range = rangeOf(b);
    const ideas = await llm.generateTypesAndIdeas(job, ref, range);
    charge(ideas.usage);
    progress.unitsWithIdeas += range.to - range.from;
    progress.llmCalls += ideas.llmCalls;
  };
  const documentsFor = async (b: number) => {
    const range = rangeOf(b);
    await condition(() => !spent());
    const docs = await llm.generateDocuments(job, ref, range);
    charge(docs.usage);
    progress.unitsWithDocs += range.to - range.from;
    progress.documentsGenerated += docs.generated;
    progress.documentsReused += docs.reused;
    progress.truncated += docs.truncated;
    progress.llmCalls += docs.llmCalls;
    setCurrentDetails(
      `corpus: ${progress.unitsWithDocs}/${progress.units} units, ${progress.documentsGenerated + progress.documentsReused} documents`,
    );
  };

  if (patched('corpus-preview-approval')) {
    // Ideas for every unit first (cheap), so the expensive document stage can be previewed and approved.
    await runBounded(batches, () => concurrency, canStart, ideasFor);
    const pilot = job.generation.requireApproval ? Math.min(batches, Math.ceil(job.generation.pilotUnits / size)) : 0;
    await runBounded(pilot, () => concurrency, canStart, documentsFor);
    progress.preview = await llm.previewCorpus(job, ref);
    if (job.generation.requireApproval) {
      const p = progress.preview;
      progress.awaitingApproval = true;
      setCurrentDetails(
        `corpus: **waiting for approval** — ${p.documents} documents (${p.documentsDone} written), about ` +
          `${p.projectedOutputTokens} output tokens and $${p.projectedCostUsd.toFixed(2)} still to pay (${p.basis}); ` +
          'send the approve update (msm approve <id>) to go on',
      );
      await condition(() => approved);
      progress.awaitingApproval = false;
    }
    await runBounded(
      batches,
      () => concurrency,
      canStart,
      async (b) => (b < pilot ? undefined : documentsFor(b)),
    );
  } else {
    // Histories recorded before the preview existed interleave ideas and documents per batch.
    await runBounded(
      batches,
      () => concurrency,
      canStart,
      async (b) => {
        await ideasFor(b);
        await documentsFor(b);
      },
    );
  }
  const { nearDuplicateThreshold, truncated } = job.generation;
  return llm.assembleCorpus(ref, { nearDuplicateThreshold, truncated });
}
