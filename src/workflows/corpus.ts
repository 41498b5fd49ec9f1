import { condition, patched, setHandler, upsertSearchAttributes, setCurrentDetails } from '@temporalio/workflow';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import type { CorpusJob, CorpusManifestRef, CorpusRef } from '../corpus/types';
import { llm } from './activity-proxies';
import { runBounded } from './bounded';
import { approveUpdate, corpusProgressQuery, setBudgetUpdate, type CorpusProgress } from './definitions';
import { handleRunControls } from './run-controls';
import { MSM_STAGE } from './search-attributes';

/**
 * Corpus generation: spec -> domains/subdomains (units) -> types -> ideas -> documents, fanned out in
 * batches of units. Every item is stored under a deterministic key, so a retry or a re-run only pays for
 * what is missing. The result is the corpus manifest (URI + hash), never the documents.
 */
export async function corpusGeneration(job: CorpusJob): Promise<CorpusManifestRef> {
  const run = new CorpusRun(job);
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'corpus' }]);
  const ref = await llm.planCorpus(job);
  run.charge(ref.usage);
  run.progress.units = ref.units;
  const size = job.generation.batchUnits;
  const batches = Math.ceil(ref.units / size);
  const rangeOf = (b: number) => ({ from: b * size, to: Math.min(ref.units, (b + 1) * size) });
  const fanOut = (n: number, each: (b: number) => Promise<void>) =>
    runBounded(
      n,
      () => run.concurrency,
      () => run.canStart(),
      each,
    );
  const ideasFor = (b: number) => run.ideas(ref, rangeOf(b));
  const documentsFor = (b: number) => run.documents(ref, rangeOf(b));

  if (patched('corpus-preview-approval')) {
    // Ideas for every unit first (cheap), so the expensive document stage can be previewed and approved.
    await fanOut(batches, ideasFor);
    const pilot = job.generation.requireApproval ? Math.min(batches, Math.ceil(job.generation.pilotUnits / size)) : 0;
    await fanOut(pilot, documentsFor);
    run.progress.preview = await llm.previewCorpus(job, ref);
    if (job.generation.requireApproval) await run.approval();
    await fanOut(batches, async (b) => (b < pilot ? undefined : documentsFor(b)));
  } else {
    // Histories recorded before the preview existed interleave ideas and documents per batch.
    await fanOut(batches, async (b) => {
      await ideasFor(b);
      await documentsFor(b);
    });
  }
  const { nearDuplicateThreshold, truncated } = job.generation;
  return llm.assembleCorpus(ref, { nearDuplicateThreshold, truncated });
}

/** One corpus run's progress, budget and controls (pause, resume, concurrency, budget, approval). */
class CorpusRun {
  readonly progress: Omit<CorpusProgress, 'overBudget'>;
  concurrency: number;
  private approved = false;

  constructor(private readonly job: CorpusJob) {
    this.progress = {
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
    this.concurrency = job.generation.concurrency;
    this.handleControls();
  }

  private handleControls(): void {
    const progress = this.progress;
    setHandler(corpusProgressQuery, () => ({ ...progress, overBudget: this.spent() }));
    handleRunControls(progress, (n) => (this.concurrency = n), 256);
    setHandler(
      approveUpdate,
      () => {
        this.approved = true;
        return progress.preview!;
      },
      {
        validator: () => {
          if (!progress.awaitingApproval)
            throw new Error('nothing to approve: this corpus is not waiting for approval');
        },
      },
    );
    setHandler(setBudgetUpdate, (usd) => ((progress.budgetUsd = usd), usd), {
      validator: (usd) => {
        if (!(typeof usd === 'number' && usd > 0)) throw new Error('budget must be a positive number of USD');
      },
    });
  }

  spent(): boolean {
    return this.progress.budgetUsd !== null && this.progress.usage.costUsd >= this.progress.budgetUsd;
  }

  canStart(): boolean {
    return !this.progress.paused && !this.spent();
  }

  /**
   * New paid work starts only within budget; calls in flight finish, so a run overshoots by at most one
   * activity per concurrency slot. `u` is absent from results recorded before cost metering existed.
   */
  charge(u: Usage | undefined): void {
    if (!u) return;
    this.progress.usage = addUsage(this.progress.usage, u);
    if (this.spent()) {
      setCurrentDetails(
        `corpus: **paused on budget** — spent $${this.progress.usage.costUsd.toFixed(2)} of $${this.progress.budgetUsd}; raise it with the setBudget update`,
      );
    }
  }

  async ideas(ref: CorpusRef, range: { from: number; to: number }): Promise<void> {
    const ideas = await llm.generateTypesAndIdeas(this.job, ref, range);
    this.charge(ideas.usage);
    this.progress.unitsWithIdeas += range.to - range.from;
    this.progress.llmCalls += ideas.llmCalls;
  }

  async documents(ref: CorpusRef, range: { from: number; to: number }): Promise<void> {
    await condition(() => !this.spent());
    const docs = await llm.generateDocuments(this.job, ref, range);
    this.charge(docs.usage);
    const p = this.progress;
    p.unitsWithDocs += range.to - range.from;
    p.documentsGenerated += docs.generated;
    p.documentsReused += docs.reused;
    p.truncated += docs.truncated;
    p.llmCalls += docs.llmCalls;
    setCurrentDetails(
      `corpus: ${p.unitsWithDocs}/${p.units} units, ${p.documentsGenerated + p.documentsReused} documents`,
    );
  }

  /** Wait for the approve update, saying in the Web UI what the rest will cost. */
  async approval(): Promise<void> {
    const p = this.progress.preview!;
    this.progress.awaitingApproval = true;
    setCurrentDetails(
      `corpus: **waiting for approval** — ${p.documents} documents (${p.documentsDone} written), about ` +
        `${p.projectedOutputTokens} output tokens and $${p.projectedCostUsd.toFixed(2)} still to pay (${p.basis}); ` +
        'send the approve update (msm approve <id>) to go on',
    );
    await condition(() => this.approved);
    this.progress.awaitingApproval = false;
  }
}
