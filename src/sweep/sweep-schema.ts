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

export const sweepFileSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" (it names the workflows)'),
    description: z.string().optional(),
    base: z
      .union([z.string().min(1), z.record(z.string(), z.unknown())])
      .describe('the base experiment: a file path (relative to the sweep file) or the experiment itself'),
    axes: z
      .record(axisPath, z.array(axisValue).min(1, 'an axis needs at least one value'))
      .refine((a) => Object.keys(a).length > 0, 'give at least one axis, e.g. specVariant: [rules, rules+values]')
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
  })
  .strict();

export type SweepFile = z.output<typeof sweepFileSchema>;

/** What the msmSweep workflow takes: the sweep with its base experiment inlined (content, not a path). */
export interface SweepInput extends Omit<SweepFile, 'base'> {
  base: ExperimentInput;
  /** Points already finished by an earlier run of this sweep (msm sweep retry): kept, not run again. */
  reuse?: PointOutcome[];
  /** Run only these points (msm sweep retry); the others come from `reuse`. */
  only?: string[];
}

export interface SweepPoint {
  /** Derived from the point's values: stable, so a re-run of the sweep re-attaches to the same children. */
  id: string;
  values: Record<string, unknown>;
}

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
