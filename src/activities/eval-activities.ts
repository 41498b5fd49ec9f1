import { Context } from '@temporalio/activity';
import { mapBounded } from '../util/bounded';
import { JUDGE_PROMPT_VERSION } from '../eval/judge-prompts';
import { parseEvalSet } from '../eval/eval-set';
import { onceFor, readJson, writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId } from '../util/hash';
import {
  judgeIdentity,
  judgeSample,
  judgmentOf,
  planJudgment,
  type JudgeCall,
  type Judgment,
  type Verdict,
} from '../eval/judge-sample';
import { AllowanceSpent, JudgeBudget, worstCostUsd } from '../eval/judge-budget';
import { JudgeRound } from '../eval/judge-allowance';
import { judgeInBatch, type BatchJudgeItem } from '../eval/judge-batch';
import type { EvalLine } from '../eval/eval-set';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { createBatchClient } from '../llm/batch/create-batch-client';
import { classifyLlmError } from '../llm/llm-failures';
import { priceOf, providerId } from '../llm/call';
import { heartbeatIfActivity } from '../temporal/activity-context';
import type { ArtifactStore } from '../store/artifact-store';
import type { EvalRequest, EvalSummary, SamplesRef } from '../eval/types';

/** A line of the trainer's samples.jsonl; samples written before the trainer recorded how each ended lack those fields. */
interface SampleLine {
  promptId: string;
  sample: number;
  text: string;
  /** "stop": the model ended its answer; "length": it hit maxNewTokens. */
  finishReason?: string;
  promptTokens?: number;
  completionTokens?: number;
}

/** What a judgment keeps of how its sample ended (only the fields the sample has). */
function endingOf(s: SampleLine): Pick<Judgment, 'finishReason' | 'completionTokens'> {
  return {
    ...(typeof s.finishReason === 'string' ? { finishReason: s.finishReason } : {}),
    ...(typeof s.completionTokens === 'number' ? { completionTokens: s.completionTokens } : {}),
  };
}

export type { Judgment };

/** The cell's verdicts as they are counted: k of n, the unjudged apart, and what the judge cost. */
class Tally {
  k = 0;
  n = 0;
  unjudged = 0;
  private readonly spent = new Map<string, Usage>();

  add(key: string, j: Judgment): void {
    if (j.verdict === 'unjudged') this.unjudged++;
    else {
      this.n++;
      if (j.verdict === 'violates') this.k++;
    }
    if (j.usage) this.spent.set(key, j.usage);
  }

  /** Summed in key order, not completion order: a re-run reports the very same dollars, to the last bit. */
  get usage(): Usage {
    return [...this.spent.keys()].sort().reduce((sum, key) => addUsage(sum, this.spent.get(key)!), NO_USAGE);
  }
}

/** How often a judge batch is polled when eval.judge.batchPollSeconds is not set. */
const JUDGE_BATCH_POLL_SECONDS = 30;

export function createEvalActivities() {
  return {
    /**
     * Score every sample the way its eval line asks (the generic criterion judge, a scenario kind's judge,
     * the values judge, or a parsed forced choice). One stored judgment per sample: a retry judges only
     * what is missing. The headline metric is k of n "violates" (see Judgment for what that counts).
     * The judge prompts' version is part of the prefix, so a reworded prompt never reuses old verdicts.
     * A sample the judge refuses, or answers unreadably, `eval.judgeAttempts` times is stored unjudged and
     * counted apart (`unjudged`), outside n: a refusal is an answer, not a fault to retry forever.
     * Each judgment also keeps its sample's finishReason and completionTokens (when the trainer wrote them),
     * and what judging it cost (`usage`): the cell's judge spend is their sum, under eval.budgetUsd.
     * With eval.judge.batch the missing verdicts go out as one provider batch (src/eval/judge-batch.ts).
     */
    async judgeSamples(req: EvalRequest, samples: SamplesRef): Promise<EvalSummary> {
      const store = openStore(req.storeUri);
      const judge = req.experiment.eval.judge;
      const attempts = req.experiment.eval.judgeAttempts;
      const judgeModel = providerId(judge);
      const prefix = `${samples.evalKey}/judgments-${contentId({ judge: judgeIdentity(judge), prompts: JUDGE_PROMPT_VERSION })}`;
      const prompts = new Map(
        parseEvalSet((await store.get(req.evalSet.key)).toString('utf8'), req.evalSet.key).map((p) => [p.id, p]),
      );
      const lines = (await store.get(samples.samplesKey))
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as SampleLine);
      for (const s of lines)
        if (!prompts.has(s.promptId)) throw new Error(`sample for unknown prompt id ${s.promptId}`);
      const keyOf = (s: SampleLine) => `${prefix}/${s.promptId}-${s.sample}.json`;
      const tally = new Tally();
      const ctx = Context.current();
      const beat = () => ctx.heartbeat({ judged: tally.n, unjudged: tally.unjudged, of: lines.length });
      // The verdicts stored by an earlier attempt or run count as they are, their spend included.
      let missing: SampleLine[] = [];
      for (const s of lines) {
        if (await store.exists(keyOf(s))) tally.add(keyOf(s), await readJson<Judgment>(store, keyOf(s)));
        else missing.push(s);
      }
      const what = `${req.label} (${judgeModel})`;
      // Under an allowance the experiment holds eval.budgetUsd (src/eval/judge-allowance.ts): only new spend counts.
      const budget =
        req.judgeAllowanceUsd === undefined
          ? new JudgeBudget(
              req.experiment.eval.budgetUsd,
              (req.judgeSpentUsd ?? 0) + tally.usage.costUsd,
              priceOf(judge),
              what,
            )
          : JudgeBudget.allowance(req.judgeAllowanceUsd, priceOf(judge), what);
      const round = new JudgeRound(budget);
      const call = (s: SampleLine): JudgeCall => ({
        settings: judgeIdentity(judge),
        model: judgeModel,
        requestId: keyOf(s),
        attempts,
        guard: round.guard(keyOf(s)),
      });
      let earlier = new Map<string, NonNullable<JudgeCall['earlier']>>();
      if (judge.batch && missing.length) {
        earlier = await judgeCellInBatch(req, missing, { store, prefix, keyOf, call, budget, tally, beat, prompts });
        const left: SampleLine[] = [];
        for (const s of missing) if (!(await store.exists(keyOf(s)))) left.push(s);
        missing = left;
      }
      // Several samples in flight at once (eval.judgeConcurrency), under the provider's own rate limits;
      // each verdict is stored under its own key, so a retry judges only what is missing.
      await mapBounded(missing, req.experiment.eval.judgeConcurrency ?? 1, async (s) => {
        const key = keyOf(s);
        const prior = earlier.get(key);
        try {
          const { value: j } = await onceFor<Judgment>(store, key, async () => ({
            ...(await judgeSample(prompts.get(s.promptId)!, s, { ...call(s), ...(prior && { earlier: prior }) })),
            ...endingOf(s),
          }));
          tally.add(key, j);
          beat();
        } catch (e) {
          // A sample the round's allowance has no room for waits for the next round (round.stopped says
          // what it needs); the round goes on with the samples that cost nothing or still fit.
          if (!(e instanceof AllowanceSpent)) throw e;
        }
      });
      const stopped = round.stopped;
      return {
        k: tally.k,
        n: tally.n,
        unjudged: tally.unjudged,
        samplesUri: samples.samplesUri,
        judgmentsPrefix: store.uri(prefix),
        judgeModel,
        judgeUsage: tally.usage,
        ...(stopped && {
          judgeStopped: {
            ...stopped,
            samples: {
              evalKey: samples.evalKey,
              samplesKey: samples.samplesKey,
              samplesUri: samples.samplesUri,
              samples: samples.samples,
            },
          },
        }),
      };
    },
  };
}

/**
 * eval.judge.batch: the missing samples the judge must read go out as one provider batch (a parsed
 * choice is stored at once); returns what the batch left to single calls, by store key.
 */
async function judgeCellInBatch(
  req: EvalRequest,
  missing: SampleLine[],
  c: {
    store: ArtifactStore;
    prefix: string;
    keyOf: (s: SampleLine) => string;
    call: (s: SampleLine) => JudgeCall;
    budget: JudgeBudget;
    tally: Tally;
    beat: () => void;
    prompts: Map<string, EvalLine>;
  },
) {
  const judge = req.experiment.eval.judge;
  const items: Array<BatchJudgeItem & { s: SampleLine }> = [];
  for (const s of missing) {
    const line = c.prompts.get(s.promptId)!;
    const plan = planJudgment(line, s, c.call(s));
    if ('ask' in plan) items.push({ key: c.keyOf(s), ask: plan.ask, s });
    else await store(plan.decided, s);
  }
  async function store(v: Verdict, s: SampleLine) {
    const j: Judgment = { ...judgmentOf(c.prompts.get(s.promptId)!, s, v), ...endingOf(s) };
    await writeJson(c.store, c.keyOf(s), j);
    c.tally.add(c.keyOf(s), j);
    c.beat();
  }
  if (!items.length) return new Map();
  let client;
  try {
    client = createBatchClient(judgeIdentity(judge));
  } catch (e) {
    throw classifyLlmError(e);
  }
  const byKey = new Map(items.map((i) => [i.key, i.s]));
  const price = priceOf(judge);
  try {
    const { earlier } = await judgeInBatch(items, {
      store: c.store,
      client,
      price,
      recordPrefix: `${c.prefix}/batches`,
      pollMs: (judge.batchPollSeconds ?? JUDGE_BATCH_POLL_SECONDS) * 1000,
      write: (item, v) => store(v, byKey.get(item.key)!),
      allow: (requests) => {
        let usd = 0;
        let count = 0;
        for (const r of requests) {
          const next = worstCostUsd(r, price, true);
          if (!c.budget.fits(usd + next)) break;
          usd += next;
          count++;
        }
        return count ? { count, settle: c.budget.reserveUsd(usd) } : { count, settle: () => undefined };
      },
      spentUnreserved: (usd) => c.budget.add(usd),
      heartbeat: heartbeatIfActivity,
      sleep: (ms) => Context.current().sleep(ms),
    });
    return earlier;
  } catch (e) {
    throw classifyLlmError(e);
  }
}
