import type { EvalLine } from '../eval-set';

/**
 * An Inspect task's grid as msm sees it: every combination of the task parameters is one condition, run as
 * one Inspect eval; its samples are the condition's "prompt" in msm's terms (the bootstrap's cluster, the
 * report's condition). Pure.
 */
/** Task parameters and their levels: every combination is a condition; a list of grids adds theirs up. */
export type InspectGrid = Record<string, string[]> | Array<Record<string, string[]>>;

export interface InspectSuite {
  task: string;
  grid: InspectGrid;
  epochs: number;
  maxTokens: number;
}

export interface InspectCondition {
  /** e.g. scenario-blackmail.goal_type-none.urgency_type-replacement: stable, and an eval-line id. */
  id: string;
  params: Record<string, string>;
}

/** Every combination of the grid (of each grid of a list), in the order its factors and levels are written. */
export function inspectConditions(grid: InspectGrid): InspectCondition[] {
  const combos = (g: Record<string, string[]>) => {
    let out: Array<Record<string, string>> = [{}];
    for (const [factor, levels] of Object.entries(g))
      out = out.flatMap((params) => levels.map((level) => ({ ...params, [factor]: level })));
    return out;
  };
  const all = (Array.isArray(grid) ? grid : [grid]).flatMap(combos);
  const seen = new Set<string>();
  return all.map(toCondition).filter((c) => !seen.has(c.id) && (seen.add(c.id), true));
}

function toCondition(params: Record<string, string>): InspectCondition {
  return {
    id: Object.entries(params)
      .map(([k, v]) => `${k}-${v}`)
      .join('.'),
    params,
  };
}

/**
 * The eval set an Inspect suite stands for: one line per condition. The line names the task and its
 * parameters; the prompts themselves are the task's, made where it runs. Its verdicts are the task's own
 * scorer's (the grader is the experiment's judge), never msm's judge prompts.
 */
export function inspectLines(s: InspectSuite): EvalLine[] {
  return inspectConditions(s.grid).map((c) => ({
    id: c.id,
    messages: [
      {
        role: 'user' as const,
        content: `Inspect task ${s.task} with ${Object.entries(c.params)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}: its own prompts, ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}`,
      },
    ],
    criterion: `the task's own scorer (${s.task}) finds the reply harmful`,
    condition: c.params,
  }));
}

/**
 * The kind of grading an Inspect condition gets, for calibration and error correction: the task's
 * classifier for its scenario (agentic_misalignment has one per scenario), e.g. "inspect:blackmail".
 */
export const inspectGraderKind = (condition: Readonly<Record<string, string>> | undefined) =>
  `inspect:${condition?.scenario ?? 'task'}`;

/** The task msm has grader calibration sets for (evals/calibration/inspect-agentic/, see grader-calibration.ts). */
export const INSPECT_CALIBRATION_TASK = 'inspect_evals/agentic_misalignment';
