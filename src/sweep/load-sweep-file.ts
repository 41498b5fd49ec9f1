import path from 'node:path';
import { describeIssues } from '../config/experiment-schema';
import { loadExperimentFile, readStructuredFile } from '../experiment/load-experiment-file';
import { expandSweep, InvalidSweepError } from './grid';
import { sweepFileSchema, type SweepInput } from './sweep-schema';

/** Does this parsed file look like a sweep (it has axes) rather than an experiment? */
export const isSweep = (raw: unknown): boolean => !!raw && typeof raw === 'object' && 'axes' in raw;

/**
 * Read a sweep file: its schema, its base experiment (a path relative to the sweep file, read and checked
 * like any experiment file, memory plan included) inlined, and every grid point checked by the
 * experiment schema — all before anything starts. The result is the msmSweep workflow's input.
 */
export function loadSweepFile(file: string): { input: SweepInput; points: ReturnType<typeof expandSweep> } {
  const r = sweepFileSchema.safeParse(readStructuredFile(file));
  if (!r.success) throw new InvalidSweepError(`invalid sweep ${file}:\n  - ${describeIssues(r.error).join('\n  - ')}`);
  const { base, ...rest } = r.data;
  const baseRaw = typeof base === 'string' ? loadExperimentFile(path.resolve(path.dirname(file), base)).raw : base;
  const input: SweepInput = { ...rest, base: baseRaw as SweepInput['base'] };
  return { input, points: expandSweep(input) };
}
