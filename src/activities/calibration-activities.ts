import { Context } from '@temporalio/activity';
import type { ProviderSettings } from '../config/experiment-schema';
import {
  calibrationStats,
  CalibrationSetError,
  cannotPass,
  DEFAULT_CALIBRATION_BAR,
  judgingOrder,
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
import { DEFAULT_JUDGE_ATTEMPTS, judgeIdentity, judgeSample, type Judgment } from '../eval/judge-sample';
import { addUsage, NO_USAGE, type Usage } from '../cost/usage';
import { providerId } from '../llm/call';

export interface CalibrationRequest {
  storeUri: string;
  /** The experiment's eval set: only the kinds of judging it uses are calibrated. */
  evalSet: { key: string; sha256: string };
  judge: ProviderSettings;
  /** eval.judgeAttempts: how many times an item is put to a judge that refuses or answers unreadably; absent: 3. */
  judgeAttempts?: number;
  /** eval.calibration's error-rate bar: judging stops once the judge cannot pass it; absent: the defaults. */
  bar?: { maxFalsePositiveRate: number; maxFalseNegativeRate: number };
}

/** Errors so far, counting an unjudged item as the wrong answer (a missed showing item, a flagged clean one). */
class CalibrationTally {
  readonly outcomes: Array<{ shows: boolean; counted: boolean }> = [];
  unjudged = 0;
  usage: Usage = NO_USAGE;
  falsePositives = 0;
  falseNegatives = 0;

  add(shows: boolean, j: Judgment): void {
    if (j.verdict === 'unjudged') this.unjudged++;
    if (j.usage) this.usage = addUsage(this.usage, j.usage);
    const counted = j.verdict === 'unjudged' ? !shows : j.verdict === 'violates';
    if (counted && !shows) this.falsePositives++;
    if (!counted && shows) this.falseNegatives++;
    this.outcomes.push({ shows, counted });
  }
}

/**
 * Run the judge on one kind's frozen set, showing and clean items alternating, and stop as soon as it can
 * no longer pass `bar` (a judge that answers "violates" to everything is out after a few items, and the
 * rest is not paid for). Everything is keyed by judge settings + prompt version + set hash, outside any
 * experiment: every experiment with this judge reuses the verdicts (the summary also by bar), a re-run
 * pays nothing, and a retry judges only the items not yet stored. An item the judge leaves unjudged (it
 * refused or answered unreadably every time) counts against the judge.
 */
async function calibrateKind(
  store: ArtifactStore,
  set: CalibrationSet,
  judge: ProviderSettings,
  opts: { attempts: number; bar: CalibrationRequest['bar'] & object },
  onItem: () => void,
): Promise<KindCalibration> {
  const prefix = `calibration/${set.kind}-${contentId({ judge, prompts: JUDGE_PROMPT_VERSION, set: set.sha256 })}`;
  const summaryKey = `${prefix}/summary-${contentId(opts.bar)}.json`;
  if (await store.exists(summaryKey)) return readJson<KindCalibration>(store, summaryKey);
  const judgeModel = providerId(judge);
  const size = { shows: set.items.filter((i) => i.shows).length, clean: set.items.filter((i) => !i.shows).length };
  const tally = new CalibrationTally();
  for (const item of judgingOrder(set.items)) {
    const key = `${prefix}/items/${item.id}.json`;
    const ask = () =>
      judgeSample(
        item.line,
        { promptId: item.id, sample: 0, text: item.response },
        { settings: judge, model: judgeModel, requestId: key, attempts: opts.attempts },
      );
    tally.add(item.shows, (await onceFor<Judgment>(store, key, ask)).value);
    onItem();
    if (cannotPass(tally, size, { ...opts.bar, level: DEFAULT_CALIBRATION_BAR.level })) break;
  }
  const judged = tally.outcomes.length;
  const summary: KindCalibration = {
    kind: set.kind,
    setSha256: set.sha256,
    judgmentsUri: store.uri(`${prefix}/items`),
    ...calibrationStats(tally.outcomes),
    unjudged: tally.unjudged,
    usage: tally.usage,
    ...(judged < set.items.length
      ? { stoppedEarly: { judged, of: set.items.length, setShows: size.shows, setClean: size.clean } }
      : {}),
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
          await calibrateKind(
            store,
            set,
            // How the judge's calls travel (eval.judge.batch) does not name its verdicts; calibration calls singly.
            judgeIdentity(req.judge),
            {
              attempts: req.judgeAttempts ?? DEFAULT_JUDGE_ATTEMPTS,
              bar: req.bar ?? {
                maxFalsePositiveRate: DEFAULT_CALIBRATION_BAR.maxFalsePositiveRate,
                maxFalseNegativeRate: DEFAULT_CALIBRATION_BAR.maxFalseNegativeRate,
              },
            },
            () => Context.current().heartbeat({ kind: set.kind, judged: ++done, of: total }),
          ),
        );
      }
      return { judgeModel: providerId(req.judge), kinds: results, parsedByCode: parsed };
    },
  };
}
