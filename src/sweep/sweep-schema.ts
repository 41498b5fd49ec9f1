import { z } from 'zod';
import type { ExperimentInput } from '../config/experiment-schema';

/**
 * A sweep: one base experiment and the axes to vary, e.g. Model Spec Science's spec variants, or spec
 * variants × base models. Every grid point is one `msmExperiment`; points that share a corpus or a
 * baseline cell share its artifacts through the store's content keys, so they are computed once.
 * Pure (no I/O): the workflow validates and expands sweeps with it.
 */
const axisPath = z
  .string()
  .regex(
    /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/,
    'an experiment field path, e.g. specVariant or aft.generate.style',
  );

const axisValue = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.record(z.string(), z.unknown()),
  z.array(z.unknown()),
]);

/** One grid point given by hand (include) or a pattern to leave out (exclude): axis path → value. */
const pointValues = z.record(axisPath, axisValue);

/**
 * Caps on what drives a sweep's history and payloads: every point is a child workflow, listed in the
 * progress query and carried (as its outcome) across continue-as-new.
 */
export const SWEEP_LIMITS = { axes: 8, valuesPerAxis: 100, points: 1000, pointsPerRun: 500 } as const;

/** Grid size before exclusions, plus the included points: computed, never expanded. */
const pointCount = (s: { axes: Record<string, unknown[]>; include?: unknown[] }) =>
  Object.values(s.axes).reduce((n, v) => n * v.length, 1) + (s.include?.length ?? 0);

const sweepObject = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" (it names the workflows)'),
    description: z.string().optional(),
    base: z
      .union([z.string().min(1), z.record(z.string(), z.unknown())])
      .describe('the base experiment: a file path (relative to the sweep file) or the experiment itself'),
    axes: z
      .record(
        axisPath,
        z
          .array(axisValue)
          .min(1, 'an axis needs at least one value')
          .max(SWEEP_LIMITS.valuesPerAxis, `at most ${SWEEP_LIMITS.valuesPerAxis} values an axis: split the sweep`),
      )
      .refine((a) => Object.keys(a).length > 0, 'give at least one axis, e.g. specVariant: [rules, rules+values]')
      .refine(
        (a) => Object.keys(a).length <= SWEEP_LIMITS.axes,
        `at most ${SWEEP_LIMITS.axes} axes: fix the others in the base experiment`,
      )
      .describe('experiment field path → the values to try; the grid is every combination'),
    include: z.array(pointValues).default([]).describe('extra points beyond the grid (axis path → value)'),
    exclude: z
      .array(pointValues)
      .default([])
      .describe('grid points to leave out: every point matching all the given values'),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(2)
      .describe('experiments running at once (the setConcurrency update changes it)'),
    pointsPerRun: z
      .number()
      .int()
      .min(1)
      .max(SWEEP_LIMITS.pointsPerRun)
      .optional()
      .describe(
        `points started before the sweep continues as new (a fresh history; default ${SWEEP_LIMITS.pointsPerRun}, or sooner when Temporal suggests it)`,
      ),
  })
  .strict();

const withinPointCap = (s: { axes: Record<string, unknown[]>; include?: unknown[] }) =>
  pointCount(s) <= SWEEP_LIMITS.points;
const pointCapError = {
  message: `a sweep has at most ${SWEEP_LIMITS.points} points (the product of the axes' value counts, plus include): split it into several sweeps`,
  path: ['axes'],
};

export const sweepFileSchema = sweepObject.refine(withinPointCap, pointCapError);

export type SweepFile = z.output<typeof sweepFileSchema>;

/** What the msmSweep workflow takes: the sweep with its base experiment inlined (content, not a path). */
export interface SweepInput extends Omit<SweepFile, 'base'> {
  base: ExperimentInput;
  /** Points already finished by an earlier run of this sweep (msm sweep retry): kept, not run again. */
  reuse?: PointOutcome[];
  /** Run only these points (msm sweep retry); the others come from `reuse`. */
  only?: string[];
  /** Set by the sweep itself when it continues as new: the points it already finished (done or failed). */
  settled?: PointOutcome[];
  /** Set by the sweep itself when it continues as new while paused. */
  paused?: boolean;
}

export interface SweepPoint {
  /** Derived from the point's values: stable, so a re-run of the sweep re-attaches to the same children. */
  id: string;
  values: Record<string, unknown>;
}

const pointOutcomeSchema = z.object({
  id: z.string(),
  values: z.record(z.string(), z.unknown()),
  workflowId: z.string(),
  status: z.enum(['done', 'failed']),
  resultsUri: z.string().optional(),
  htmlUri: z.string().optional(),
  error: z.string().optional(),
});

/**
 * msmSweep's own input, checked at the top of the workflow: a start that did not come from `msm sweep`
 * (e.g. `temporal workflow start --input`) must fail as bad input, not retry a workflow task forever.
 * The base experiment is checked per point by expandSweep.
 */
export const sweepInputSchema = sweepObject
  .extend({
    base: z.record(z.string(), z.unknown(), 'the base experiment itself (an object), not a path'),
    reuse: z.array(pointOutcomeSchema).optional(),
    only: z.array(z.string()).optional(),
    settled: z.array(pointOutcomeSchema).optional(),
    paused: z.boolean().optional(),
  })
  // Fields a newer client adds (the file's own fields stay strict in sweepFileSchema) pass through.
  .loose()
  .refine(withinPointCap, pointCapError);

export interface PointOutcome {
  id: string;
  values: Record<string, unknown>;
  workflowId: string;
  status: 'done' | 'failed';
  /** done: the experiment's report. */
  resultsUri?: string;
  htmlUri?: string;
  /** failed: why, from the child's failure chain. */
  error?: string;
}
