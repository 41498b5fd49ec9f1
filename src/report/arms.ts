import { ARM_PRESETS, describeArm, type Arm } from '../config/arms';
import { midtrainSuffix } from '../config/midtrain';
import type { Interval } from '../eval/bootstrap';
import { byCondition, type ConditionCount, type PromptCount } from '../eval/counts';
import { wilson, type RateInterval } from '../eval/stats';

/**
 * The report's view of arms as data: each arm's definition, the controls (arms with no AFT, evaluated
 * once) as reference levels, and, for a values eval, the share of answers revealing each value.
 */

/** Values a values eval's answers can reveal that are not a value: a neutral option, or nothing readable. */
const NOT_A_VALUE = new Set(['neutral', 'none']);
export const NEITHER = 'neither';

/** Per revealed value, how many answers of a cell revealed it (values lines only); see judgedSplit. */
export type ValueCounts = Record<string, number>;

export interface ValueShare extends RateInterval {
  /** A named value of the eval (e.g. "america"), or "neither" (a neutral option, another answer, or none readable). */
  value: string;
}

/** Shares of the named values and of "neither", pooled over the given cells' counts (Wilson 95%). */
export function valueShares(all: ReadonlyArray<ValueCounts | undefined | null>): ValueShare[] | null {
  if (!all.length || all.some((c) => !c)) return null;
  const sum: ValueCounts = {};
  for (const c of all) for (const [v, k] of Object.entries(c!)) sum[v] = (sum[v] ?? 0) + k;
  const n = Object.values(sum).reduce((a, b) => a + b, 0);
  if (!n) return null;
  const named = Object.keys(sum)
    .filter((v) => !NOT_A_VALUE.has(v))
    .sort();
  const namedK = named.reduce((s, v) => s + sum[v], 0);
  return [...named.map((value) => ({ value, ...wilson(sum[value], n) })), { value: NEITHER, ...wilson(n - namedK, n) }];
}

/** The arms of a report; results of experiments from before arms were data ran baseline and msm. */
export function reportArms(
  arms: readonly Arm[] | undefined,
  present: readonly string[],
): Array<Arm & { description: string }> {
  const list =
    arms ?? present.map((name) => ARM_PRESETS[name] ?? { name, start: 'base' as const, aft: 'data' as const });
  return list.map((a) => ({ ...a, description: describeArm(a) }));
}

/** A model's evaluation as the report reads it: k of n judged, where its samples, judgments and logs are. */
export interface JudgedEval {
  k: number;
  n: number;
  samplesUri: string;
  judgeModel: string;
  judgmentsUri?: string;
  /** Samples the judge left without a verdict (not in n). */
  unjudged?: number;
  /** An Inspect task's `.eval` logs (one per condition). */
  logsUri?: string;
}

/** A control's id, as the workflow names it (a midtraining seed other than 0 adds "-m<seed>"). */
export const controlId = (c: { arm: string; seed: number; midtrainSeed?: number }) =>
  `${c.arm}-s${c.seed}${midtrainSuffix(c.midtrainSeed ?? 0)}`;

export interface ControlInput {
  arm: string;
  seed: number;
  /** midtrain.seeds (more than one): the midtraining this control evaluates. */
  midtrainSeed?: number;
  /** null: the base model itself. */
  modelUri: string | null;
  eval: JudgedEval;
  prompts?: PromptCount[];
  conditions?: ConditionCount[];
  executed?: { k: number; n: number };
  unparsed?: { k: number; n: number };
  truncated?: { k: number; n: number };
  values?: ValueCounts;
}

/** A rate's intervals as the report gives them: cluster bootstrap, corrected for judge error, and the Wilson reference. */
export interface RateStats {
  misalignment: RateInterval;
  wilson: RateInterval;
  corrected: Interval | null;
  withinJudgeError: boolean;
}

/** A control arm's one evaluation: drawn as a horizontal reference line, listed as a row. */
export interface ControlPoint extends RateStats {
  id: string;
  arm: string;
  description: string;
  /** The model evaluated: the midtraining checkpoint, or the base model. */
  startsFrom: string;
  modelUri: string | null;
  seed: number;
  midtrainSeed?: number;
  eval: ControlInput['eval'];
  conditions: ConditionCount[] | null;
  /** Judged (and unjudged) samples per eval prompt; null when the split by prompt is unknown. */
  prompts: PromptCount[] | null;
  unjudged: number;
  executed: RateInterval | null;
  unparsed: RateInterval | null;
  truncated: RateInterval | null;
  values: ValueShare[] | null;
}

/** The controls as rows and reference lines; `stats` gives each one's intervals (one eval seed: prompts are the clusters). */
export function controlPoints(
  controls: readonly ControlInput[],
  arms: ReadonlyArray<Arm & { description: string }>,
  startsFrom: (a: Arm, midtrainSeed?: number) => string,
  stats: (c: ControlInput) => RateStats,
): ControlPoint[] {
  return controls.map((c) => {
    const arm = arms.find((a) => a.name === c.arm) ?? {
      name: c.arm,
      start: 'base' as const,
      aft: 'none' as const,
      description: 'control',
    };
    const conditions = c.prompts
      ? byCondition(c.prompts)
      : c.conditions
        ? [...c.conditions].sort((a, b) => a.condition.localeCompare(b.condition))
        : null;
    return {
      id: controlId(c),
      arm: c.arm,
      description: arm.description,
      startsFrom: startsFrom(arm, c.midtrainSeed),
      modelUri: c.modelUri,
      seed: c.seed,
      ...(c.midtrainSeed !== undefined && { midtrainSeed: c.midtrainSeed }),
      eval: c.eval,
      conditions,
      prompts: c.prompts ?? null,
      ...stats(c),
      unjudged: c.eval.unjudged ?? 0,
      executed: c.executed ? wilson(c.executed.k, c.executed.n) : null,
      unparsed: c.unparsed ? wilson(c.unparsed.k, c.unparsed.n) : null,
      truncated: c.truncated ? wilson(c.truncated.k, c.truncated.n) : null,
      values: valueShares([c.values]),
    };
  });
}

/** "america 40.0% (…), affordability 10.0% (…), neither 50.0% (…)" */
export const valuesText = (shares: readonly ValueShare[] | null, pct: (r: number) => string) =>
  shares ? shares.map((s) => `${s.value} ${pct(s.rate)} (${pct(s.lo)} – ${pct(s.hi)}), ${s.k}/${s.n}`).join('; ') : '—';
