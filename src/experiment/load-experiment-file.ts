import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { assertFits } from '../plan/plan';
import { experimentBaseDir, planFromDisk } from '../plan/plan-inputs';
import { PROJECT_ROOT } from '../util/project-paths';
import { parseExperiment, type Experiment, type ExperimentInput } from '../config/experiment-schema';

/**
 * Read and check an experiment file (.yaml/.yml/.json): the schema, then the memory planner, which refuses
 * a job that cannot fit its GPUs before anything is rented. Returns the raw object (the workflow input) and
 * the parsed one.
 */
export function loadExperimentFile(file: string): { raw: ExperimentInput; experiment: Experiment } {
  const read = readExperimentFile(file);
  assertFits(planFromDisk(read.experiment, experimentBaseDir(read.experiment, PROJECT_ROOT)), file);
  return read;
}

/** A .yaml/.yml or .json file, parsed; a parse error names the file and its format. */
export function readStructuredFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${file}: not valid ${path.extname(file).slice(1).toUpperCase() || 'JSON'}: ${(e as Error).message}`,
    );
  }
}

/** Read an experiment file and validate it against the schema only (`msm plan` reports memory itself). */
export function readExperimentFile(file: string): { raw: ExperimentInput; experiment: Experiment } {
  const raw = readStructuredFile(file);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${file}: expected an object at the top level`);
  // The raw object (not the parsed one) is the workflow input: defaults stay visible in one place.
  const experiment = parseExperiment(raw, file);
  return { raw: raw as ExperimentInput, experiment };
}
