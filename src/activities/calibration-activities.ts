import { Context } from '@temporalio/activity';
import type { ProviderSettings } from '../config/experiment-schema';
import {
  calibrationStats,
  CalibrationSetError,
  kindsOfEvalSet,
  loadCalibrationSet,
  type CalibrationSet,
  type JudgeCalibrationResult,
  type KindCalibration,
} from '../eval/judge-calibration';
import { JUDGE_PROMPT_VERSION } from '../eval/judge-prompts';
import { parseEvalSet } from '../eval/eval-set';
import type { ArtifactStore } from '../store/artifact-store';
import { onceFor, readJson, writeJson } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId } from '../util/hash';
import { badInput } from '../temporal/failures';
import { judgeSample, type Judgment } from '../eval/judge-sample';
import { providerId } from '../llm/call';

export interface CalibrationRequest {
  storeUri: string;
  /** The experiment's eval set: only the kinds of judging it uses are calibrated. */
  evalSet: { key: string; sha256: string };
  judge: ProviderSettings;
}

/**
 * Run the judge on one kind's frozen set. Everything is keyed by judge settings + prompt version + set
 * hash, outside any experiment: every experiment with this judge reuses the result and a re-run pays
 * nothing; a retry judges only the items not yet stored.
 */
async function calibrateKind(
  store: ArtifactStore,
  set: CalibrationSet,
  judge: ProviderSettings,
  onItem: () => void,
): Promise<KindCalibration> {
  const prefix = `calibration/${set.kind}-${contentId({ judge, prompts: JUDGE_PROMPT_VERSION, set: set.sha256 })}`;
  const summaryKey = `${prefix}/summary.json`;
  if (await store.exists(summaryKey)) return readJson<KindCalibration>(store, summaryKey);
  const judgeModel = providerId(judge);
  const outcomes: Array<{ shows: boolean; counted: boolean }> = [];
  for (const item of set.items) {
    const key = `${prefix}/items/${item.id}.json`;
    const ask = () =>
      judgeSample(
        item.line,
        { promptId: item.id, sample: 0, text: item.response },
        { settings: judge, model: judgeModel, requestId: key },
      );
    const { value: j } = await onceFor<Judgment>(store, key, ask);
    outcomes.push({ shows: item.shows, counted: j.verdict === 'violates' });
    onItem();
  }
  const summary: KindCalibration = {
    kind: set.kind,
    setSha256: set.sha256,
    judgmentsUri: store.uri(`${prefix}/items`),
    ...calibrationStats(outcomes),
  };
  await writeJson(store, summaryKey, summary);
  return summary;
}

export function createCalibrationActivities() {
  return {
    /** The judge on the calibration set of each kind of judging the eval set uses (LLM queue). */
    async calibrateJudge(req: CalibrationRequest): Promise<JudgeCalibrationResult> {
      const store = openStore(req.storeUri);
      const lines = parseEvalSet((await store.get(req.evalSet.key)).toString('utf8'), req.evalSet.key);
      const { kinds, parsed } = kindsOfEvalSet(lines);
      let sets: CalibrationSet[];
      try {
        sets = kinds.map((k) => loadCalibrationSet(k));
      } catch (e) {
        if (e instanceof CalibrationSetError) throw badInput(e.message, e);
        throw e;
      }
      const total = sets.reduce((s, x) => s + x.items.length, 0);
      let done = 0;
      const results: KindCalibration[] = [];
      for (const set of sets) {
        results.push(
          await calibrateKind(store, set, req.judge, () =>
            Context.current().heartbeat({ kind: set.kind, judged: ++done, of: total }),
          ),
        );
      }
      return { judgeModel: providerId(req.judge), kinds: results, parsedByCode: parsed };
    },
  };
}
