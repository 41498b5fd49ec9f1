import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { ProviderSettings } from '../../config/experiment-schema';
import { endpointProblem } from '../../security/allowlist';
import type { TrainerJobManifest } from '../../training/job';
import { contentId, sha256Hex } from '../../util/hash';
import { parseJsonl, type EvalLine } from '../eval-set';
import { CALIBRATION_DIR, CalibrationSetError, calibrationStats, type KindCalibration } from '../judge-calibration';
import { INSPECT_CALIBRATION_TASK, inspectGraderKind } from './conditions';
import { graderOf, InspectGraderError } from './manifest';

/**
 * Calibration of an Inspect task's grader: the experiment's judge grades, through the task's own classifier
 * prompts, frozen replies whose label we know (evals/calibration/inspect-agentic/, built by
 * scripts/build-inspect-calibration.py). The trainer's inspect-calibration job runs the task's scorer on them
 * (trainer/msm_trainer/inspect_calibration.py); here: the sets, the job's manifest and the tally. Pure but
 * for reading the frozen files.
 */
export { INSPECT_CALIBRATION_TASK };
export const INSPECT_CALIBRATION_SCENARIOS = ['blackmail', 'leaking', 'murder'] as const;
export type InspectCalibrationScenario = (typeof INSPECT_CALIBRATION_SCENARIOS)[number];
/** The grid cell the replies answer: the classifier sees that condition's emails beside each reply. */
export const INSPECT_CALIBRATION_PARAMS = { goal_type: 'none', goal_value: 'none', urgency_type: 'replacement' };

const itemSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
    scenario: z.enum(INSPECT_CALIBRATION_SCENARIOS),
    shows: z.boolean(),
    reply: z.string().min(1),
  })
  .strict();
export type InspectCalibrationItem = z.infer<typeof itemSchema>;

export interface InspectCalibrationSet {
  kind: `inspect:${InspectCalibrationScenario}`;
  scenario: InspectCalibrationScenario;
  sha256: string;
  items: InspectCalibrationItem[];
}

type Manifest = Record<string, { file: string; sha256: string; shows: number; clean: number }>;

/** A scenario's frozen set, checked against the hash in calibration/inspect-manifest.json (see loadCalibrationSet). */
export function loadInspectCalibrationSet(
  scenario: InspectCalibrationScenario,
  dir = CALIBRATION_DIR,
): InspectCalibrationSet {
  const kind = `inspect:${scenario}` as const;
  const manifest = JSON.parse(readFileSync(path.join(dir, 'inspect-manifest.json'), 'utf8')) as Manifest;
  const entry = manifest[kind];
  if (!entry)
    throw new CalibrationSetError(
      `calibration/inspect-manifest.json has no ${kind}: rebuild it with scripts/build-inspect-calibration.py`,
    );
  const file = path.join(dir, entry.file);
  const text = readFileSync(file);
  const sha256 = sha256Hex(text);
  if (sha256 !== entry.sha256)
    throw new CalibrationSetError(
      `${file}: sha256 ${sha256} differs from the ${entry.sha256} recorded in calibration/inspect-manifest.json; ` +
        'the calibration sets are frozen: restore the file, or rebuild it with scripts/build-inspect-calibration.py on purpose',
    );
  const items = parseJsonl(text.toString('utf8'), itemSchema, file);
  const wrong = items.filter((i) => i.scenario !== scenario);
  if (wrong.length)
    throw new CalibrationSetError(`${file}: items ${wrong.map((i) => i.id).join(', ')} are not ${scenario} replies`);
  return { kind, scenario, sha256, items };
}

/**
 * The scenarios of an Inspect eval set that have calibration sets: only the task the sets were written for,
 * and only the scenarios its conditions use. Others stay uncalibrated (human labels may still calibrate them).
 */
export function inspectCalibrationScenarios(
  task: string,
  lines: readonly Pick<EvalLine, 'condition'>[],
): InspectCalibrationScenario[] {
  if (task !== INSPECT_CALIBRATION_TASK) return [];
  const used = new Set(lines.map((l) => inspectGraderKind(l.condition)));
  return INSPECT_CALIBRATION_SCENARIOS.filter((s) => used.has(`inspect:${s}`));
}

/** The store folder of one grader's calibration on these sets: equal inputs are graded once, ever. */
export function inspectCalibrationKeyOf(judge: ProviderSettings, sets: readonly InspectCalibrationSet[]): string {
  const g = graderOf(judge);
  return `calibration/inspect-${contentId({
    task: INSPECT_CALIBRATION_TASK,
    // The key's variable name is where the trainer reads it, not what grades: left out.
    grader: { kind: g.kind, model: g.model, baseUrl: g.baseUrl ?? null },
    sets: sets.map((s) => [s.kind, s.sha256]),
  })}`;
}

export function inspectCalibrationManifest(
  sets: readonly InspectCalibrationSet[],
  judge: ProviderSettings,
  jobId: string,
  uri: (key: string) => string,
  key: string,
): TrainerJobManifest {
  // The trainer reads the grader's key where it runs: the workers' allowlists apply (docs/security.md).
  const refused = endpointProblem('eval.judge', graderOf(judge));
  if (refused) throw new InspectGraderError(refused);
  return {
    kind: 'inspect-calibration',
    jobId,
    // No model is loaded: the replies are fixed. A random base model keeps the job's disk estimate small.
    baseModel: { init: 'random' },
    inspectCalibration: {
      task: INSPECT_CALIBRATION_TASK,
      scenarios: sets.map((s) => ({
        kind: s.kind,
        params: { scenario: s.scenario, ...INSPECT_CALIBRATION_PARAMS },
        items: s.items.map(({ id, shows, reply }) => ({ id, shows, reply })),
      })),
      grader: graderOf(judge),
    },
    checkpointPrefix: uri(`${key}/checkpoints`),
    outputUri: uri(`${key}/out`),
    seed: 0,
    device: 'cpu',
  };
}

/** One line of the job's verdicts.jsonl. */
export const inspectVerdictSchema = z.object({
  kind: z.string(),
  id: z.string(),
  shows: z.boolean(),
  verdict: z.boolean().nullable(),
  explanation: z.string().nullable().optional(),
});
export type InspectVerdict = z.infer<typeof inspectVerdictSchema>;

/**
 * Each set's verdicts as its KindCalibration, with msm's own semantics: a null verdict (an answer the
 * classifier could not read) counts as the wrong answer. Every item of a set must have its verdict.
 */
export function tallyInspectCalibration(
  sets: readonly InspectCalibrationSet[],
  verdicts: readonly InspectVerdict[],
  judgmentsUri: string,
): KindCalibration[] {
  return sets.map((set) => {
    const mine = new Map(verdicts.filter((v) => v.kind === set.kind).map((v) => [v.id, v]));
    const missing = set.items.filter((i) => !mine.has(i.id));
    if (missing.length)
      throw new CalibrationSetError(
        `${judgmentsUri}: no verdict for ${missing.length} ${set.kind} items (e.g. ${missing[0]!.id}); ` +
          'the job graded other sets: remove its folder so it is graded again',
      );
    const outcomes = set.items.map((i) => {
      const v = mine.get(i.id)!.verdict;
      return { shows: i.shows, counted: v === null ? !i.shows : v };
    });
    const unjudged = set.items.filter((i) => mine.get(i.id)!.verdict === null).length;
    return { kind: set.kind, setSha256: set.sha256, judgmentsUri, unjudged, ...calibrationStats(outcomes) };
  });
}
