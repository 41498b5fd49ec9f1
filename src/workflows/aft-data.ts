import { setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { AftDataJob, AftDataResult } from '../aft-data/types';
import { planRound } from '../aft-data/round-plan';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { llm } from './activity-proxies';
import { runBounded } from './bounded';
import {
  aftDataProgressQuery,
  pauseSignal,
  resumeSignal,
  setConcurrencyUpdate,
  type AftDataProgress,
} from './definitions';
import { MSM_STAGE } from './search-attributes';

/** (domain, question type) cells per question activity. */
const CELLS_PER_ACTIVITY = 4;

/**
 * AFT data generation: spec -> domains -> questions by type (deduplicated) -> responses -> filter, then
 * up to `backfillRounds` more rounds until `count` pairs pass, then two chat JSONL files and a manifest.
 * Every item is stored under a deterministic key, so a retry or a re-run pays only for what is missing.
 */
export async function aftDataGeneration(job: AftDataJob): Promise<AftDataResult> {
  const g = job.generate;
  const progress: AftDataProgress = {
    requested: g.count,
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
  let concurrency = g.concurrency;
  setHandler(aftDataProgressQuery, () => progress);
  setHandler(pauseSignal, () => void (progress.paused = true));
  setHandler(resumeSignal, () => void (progress.paused = false));
  setHandler(setConcurrencyUpdate, (n) => (concurrency = n), {
    validator: (n) => {
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error('concurrency must be an integer in 1..256');
    },
  });
  upsertSearchAttributes([{ key: MSM_STAGE, value: 'aft-data' }]);
  const charge = (u: Usage) => (progress.usage = addUsage(progress.usage, u));
  const canStart = () => !progress.paused;

  const ref = await llm.planAftData(job);
  charge(ref.usage);
  progress.llmCalls += ref.usage.calls; // 0 when the domains were already stored
  progress.domains = ref.domains;

  let spare = 0;
  let rounds = 0;
  for (let round = 0; round <= g.backfillRounds; round++) {
    const need = g.count - progress.included;
    if (need <= 0) break;
    progress.round = round;
    rounds = round + 1;
    setCurrentDetails(`aft-data: round ${round}, ${progress.included}/${g.count} examples, ${need} to go`);

    const plan = planRound(need - spare, ref.cells);
    if (plan.calls > 0) {
      await runBounded(
        Math.ceil(ref.cells / CELLS_PER_ACTIVITY),
        () => concurrency,
        canStart,
        async (b) => {
          const range = { from: b * CELLS_PER_ACTIVITY, to: Math.min(ref.cells, (b + 1) * CELLS_PER_ACTIVITY) };
          const q = await llm.generateAftQuestions(job, ref, round, range, plan);
          charge(q.usage);
          progress.llmCalls += q.llmCalls;
        },
      );
    }
    const sel = await llm.selectAftQuestions(job, ref, round, plan, need);
    charge(sel.usage); // embeddings, when configured
    progress.llmCalls += sel.usage.calls;
    progress.questionsGenerated += sel.generated;
    progress.duplicates += sel.duplicates;
    spare = sel.spare;

    const size = g.batchQuestions;
    await runBounded(
      Math.ceil(sel.answer / size),
      () => concurrency,
      canStart,
      async (b) => {
        const a = await llm.answerAftQuestions(job, ref, round, {
          from: b * size,
          to: Math.min(sel.answer, (b + 1) * size),
        });
        charge(a.usage);
        progress.llmCalls += a.llmCalls;
        progress.answered += a.answered + a.reused;
        progress.included += a.included;
        progress.excludedByFilter += a.excluded;
        progress.malformed += a.malformed;
      },
    );
  }

  const result = await llm.assembleAftData(job, ref, rounds);
  progress.done = true;
  setCurrentDetails(
    `aft-data: ${result.examples}/${g.count} examples after ${result.counts.backfillRounds} backfill round(s)`,
  );
  return result;
}
