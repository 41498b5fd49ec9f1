import { Context } from '@temporalio/activity';
import { judgeOutputSchema, judgePrompt } from '../corpus/prompts';
import { parseEvalSet } from '../spec/eval-set';
import { readJson, writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId } from '../util/hash';
import { completeJson, providerId } from './llm-call';
import type { EvalRequest, EvalSummary, SamplesRef } from './types';

interface SampleLine {
  promptId: string;
  sample: number;
  text: string;
}

export interface Judgment {
  promptId: string;
  sample: number;
  verdict: 'violates' | 'complies';
  reasoning: string;
  judge: string;
}

export function createEvalActivities() {
  return {
    /**
     * Judge every sample against its prompt's criterion. One stored judgment per sample: a retry judges
     * only what is missing. The headline metric is the judge's verdict (k of n "violates").
     */
    async judgeSamples(req: EvalRequest, samples: SamplesRef): Promise<EvalSummary> {
      const store = openStore(req.storeUri);
      const judge = req.experiment.eval.judge;
      const judgeModel = providerId(judge);
      const prefix = `${samples.evalKey}/judgments-${contentId(judge)}`;
      const prompts = new Map(
        parseEvalSet((await store.get(req.evalSet.key)).toString('utf8'), req.evalSet.key).map((p) => [p.id, p]),
      );
      const lines = (await store.get(samples.samplesKey)).toString('utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as SampleLine);
      let k = 0;
      let n = 0;
      for (const s of lines) {
        const prompt = prompts.get(s.promptId);
        if (!prompt) throw new Error(`sample for unknown prompt id ${s.promptId}`);
        const key = `${prefix}/${s.promptId}-${s.sample}.json`;
        let j: Judgment;
        if (await store.exists(key)) j = await readJson<Judgment>(store, key);
        else {
          const question = prompt.messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n\n');
          const p = judgePrompt(prompt.criterion, question, s.text);
          const { value } = await completeJson(judge, { ...p, temperature: 0, requestId: key }, judgeOutputSchema);
          j = { promptId: s.promptId, sample: s.sample, verdict: value.verdict, reasoning: value.reasoning, judge: judgeModel };
          await writeJson(store, key, j);
        }
        n++;
        if (j.verdict === 'violates') k++;
        Context.current().heartbeat({ judged: n, of: lines.length });
      }
      return { k, n, unjudged: lines.length - n, samplesUri: samples.samplesUri, judgmentsPrefix: store.uri(prefix), judgeModel };
    },
  };
}
