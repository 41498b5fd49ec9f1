import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parseExperiment, type Experiment, type ExperimentInput } from './experiment-schema';

/** Read an experiment file (.yaml/.yml/.json): returns the raw object (the workflow input) and the parsed one. */
export function loadExperimentFile(file: string): { raw: ExperimentInput; experiment: Experiment } {
  const text = readFileSync(file, 'utf8');
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid ${path.extname(file).slice(1).toUpperCase() || 'JSON'}: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: expected an object at the top level`);
  // The raw object (not the parsed one) is the workflow input: defaults stay visible in one place.
  const experiment = parseExperiment(raw, file);
  return { raw: raw as ExperimentInput, experiment };
}
