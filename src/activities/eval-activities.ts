import { Context } from '@temporalio/activity';
import { mapBounded } from '../util/bounded';
import { JUDGE_PROMPT_VERSION } from '../eval/judge-prompts';
import { parseEvalSet } from '../eval/eval-set';
import { onceFor } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId } from '../util/hash';
import { judgeSample, type Judgment } from '../eval/judge-sample';
import { providerId } from '../llm/call';
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

export function createEvalActivities() {
  return {
    /**
     * Score every sample the way its eval line asks (the generic criterion judge, a scenario kind's judge,
     * the values judge, or a parsed forced choice). One stored judgment per sample: a retry judges only
     * what is missing. The headline metric is k of n "violates" (see Judgment for what that counts).
     * The judge prompts' version is part of the prefix, so a reworded prompt never reuses old verdicts.
     * A sample the judge refuses, or answers unreadably, `eval.judgeAttempts` times is stored unjudged and
     * counted apart (`unjudged`), outside n: a refusal is an answer, not a fault to retry forever.
     * Each judgment also keeps its sample's finishReason and completionTokens (when the trainer wrote them).
     */
    async judgeSamples(req: EvalRequest, samples: SamplesRef): Promise<EvalSummary> {
      const store = openStore(req.storeUri);
      const judge = req.experiment.eval.judge;
      const attempts = req.experiment.eval.judgeAttempts;
      const judgeModel = providerId(judge);
      const prefix = `${samples.evalKey}/judgments-${contentId({ judge, prompts: JUDGE_PROMPT_VERSION })}`;
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
      let k = 0;
      let n = 0;
      let unjudged = 0;
      const ctx = Context.current();
      // Several samples in flight at once (eval.judgeConcurrency), under the provider's own rate limits;
      // each verdict is stored under its own key, so a retry judges only what is missing.
      await mapBounded(lines, req.experiment.eval.judgeConcurrency ?? 1, async (s) => {
        const key = `${prefix}/${s.promptId}-${s.sample}.json`;
        const { value: j } = await onceFor<Judgment>(store, key, async () => ({
          ...(await judgeSample(prompts.get(s.promptId)!, s, {
            settings: judge,
            model: judgeModel,
            requestId: key,
            attempts,
          })),
          ...endingOf(s),
        }));
        if (j.verdict === 'unjudged') unjudged++;
        else {
          n++;
          if (j.verdict === 'violates') k++;
        }
        ctx.heartbeat({ judged: n, unjudged, of: lines.length });
      });
      return { k, n, unjudged, samplesUri: samples.samplesUri, judgmentsPrefix: store.uri(prefix), judgeModel };
    },
  };
}
