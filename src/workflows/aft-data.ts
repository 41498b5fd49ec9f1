import { setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { AftDataJob, AftDataRef, AftDataResult } from '../aft-data/types';
import { planRound } from '../aft-data/round-plan';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { llm } from './activity-proxies';
import { runBounded } from './bounded';
import { aftDataProgressQuery, type AftDataProgress } from './definitions';
import { handleRunControls } from './run-controls';
import { MSM_STAGE } from '../temporal/search-attribute-keys';

/** (domain, question type) cells per question activity. */
const CELLS_PER_ACTIVITY = 4;

/**
 * AFT data generation: spec -> domains -> questions by type (deduplicated) -> responses -> filter, then
 * up to `backfillRounds` more rounds until `count` pairs pass, then two chat JSONL files and a manifest.
 * Every item is stored under a deterministic key, so a retry or a re-run pays only for what is missing.
 */
export async function aftDataGeneration(job: AftDataJob): Promise<AftDataResult> {
  const g = job.generate;
  const run = new AftDataRun(job);
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'aft-data' }]);
  const ref = await llm.planAftData(job);
  run.charge(ref.usage);
  run.progress.llmCalls += ref.usage.calls; // 0 when the domains were already stored
  run.progress.domains = ref.domains;

  let spare = 0;
  let rounds = 0;
  for (let round = 0; round <= g.backfillRounds; round++) {
    const need = g.count - run.progress.included;
    if (need <= 0) break;
    run.progress.round = round;
    rounds = round + 1;
    setCurrentDetails(`aft-data: round ${round}, ${run.progress.included}/${g.count} examples, ${need} to go`);
    spare = await run.round(ref, round, need, spare);
  }

  const result = await llm.assembleAftData(job, ref, rounds);
  run.progress.done = true;
  setCurrentDetails(
    `aft-data: ${result.examples}/${g.count} examples after ${result.counts.backfillRounds} backfill round(s)`,
  );
  return result;
}

/** One AFT data run's progress and controls (pause, resume, concurrency), and its rounds. */
class AftDataRun {
  readonly progress: AftDataProgress;
  private concurrency: number;

  constructor(private readonly job: AftDataJob) {
    this.progress = {
      requested: job.generate.count,
      round: 0,
      domains: 0,
      questionsGenerated: 0,
      duplicates: 0,
      answered: 0,
      included: 0,
      excludedByFilter: 0,
      malformed: 0,
      usage: NO_USAGE,
      llmCalls: 0,
      paused: false,
      done: false,
    };
    this.concurrency = job.generate.concurrency;
    setHandler(aftDataProgressQuery, () => this.progress);
    handleRunControls(this.progress, (n) => (this.concurrency = n), 256);
  }

  charge(u: Usage): void {
    this.progress.usage = addUsage(this.progress.usage, u);
  }

  private fanOut(n: number, each: (b: number) => Promise<void>): Promise<void[]> {
    return runBounded(
      n,
      () => this.concurrency,
      () => !this.progress.paused,
      each,
    );
  }

  /** Questions for what is still needed (less the spare ones already selected), selection, answers. */
  async round(ref: AftDataRef, round: number, need: number, spare: number): Promise<number> {
    const { job, progress } = this;
    const plan = planRound(need - spare, ref.cells);
    if (plan.calls > 0) {
      await this.fanOut(Math.ceil(ref.cells / CELLS_PER_ACTIVITY), async (b) => {
        const range = { from: b * CELLS_PER_ACTIVITY, to: Math.min(ref.cells, (b + 1) * CELLS_PER_ACTIVITY) };
        const q = await llm.generateAftQuestions(job, ref, round, range, plan);
        this.charge(q.usage);
        progress.llmCalls += q.llmCalls;
      });
    }
    const sel = await llm.selectAftQuestions(job, ref, round, plan, need);
    this.charge(sel.usage); // embeddings, when configured
    progress.llmCalls += sel.usage.calls;
    progress.questionsGenerated += sel.generated;
    progress.duplicates += sel.duplicates;

    const size = job.generate.batchQuestions;
    await this.fanOut(Math.ceil(sel.answer / size), async (b) => {
      const range = { from: b * size, to: Math.min(sel.answer, (b + 1) * size) };
      const a = await llm.answerAftQuestions(job, ref, round, range);
      this.charge(a.usage);
      progress.llmCalls += a.llmCalls;
      progress.answered += a.answered + a.reused;
      progress.included += a.included;
      progress.excludedByFilter += a.excluded;
      progress.malformed += a.malformed;
    });
    return sel.spare;
  }
}
