import type { AftSubsetPlan } from './aft-subsets';
import type { Experiment } from './experiment-schema';

/**
 * The loaded experiment as it crosses Temporal: configuration, keys and hashes of the stored spec, data and
 * eval set. Never document text (claim check via the artifact store).
 */
export interface LoadedExperiment {
  experiment: Experiment;
  storeUri: string;
  /** variantTokens: each variant's spec tokens (absent in runs loaded before they were counted). */
  spec: {
    key: string;
    hash: string;
    title: string;
    variant: string;
    sections: number;
    rules: number;
    variantTokens?: Partial<Record<string, number>>;
  };
  /** Placebo arms only: the unrelated spec the placebo corpus is generated from, stored like `spec`. */
  placeboSpec?: { key: string; hash: string; title: string; path: string };
  /**
   * aft.generate only: the spec the AFT data is generated from, stored like `spec`; `path` (aft.generate.spec
   * as written) only when it is not the experiment's own spec, whose key and hash it then repeats. Absent in
   * runs loaded before it was recorded: their AFT data came from `spec`.
   */
  aftSpec?: { key: string; hash: string; title: string; path?: string };
  /** The AFT data file; null when aft.generate makes it (the aftDataGeneration child). */
  aftData: { key: string; sha256: string; examples: number } | null;
  /** aft.mix.data, stored (only when aft.mix is set). */
  mixData?: { key: string; sha256: string; examples: number };
  /** aft.reasoningData, stored (only when set): the with-reasoning file of arms with aft: with-reasoning. */
  reasoningData?: { key: string; sha256: string; examples: number };
  /**
   * The eval set as stored: the chosen split and conditions only. `split` and `of` (the file's lines) are
   * absent in runs loaded before they were recorded.
   */
  evalSet: { key: string; sha256: string; prompts: number; split?: string; of?: number };
  /** eval.capabilities' question files, stored, by check name (absent: no check reads a file). */
  capabilityQuestions?: Record<string, { key: string; sha256: string; questions: number }>;
  /** AFT examples per fraction and whether each seed drew its own subsets; absent in runs loaded before it existed. */
  aftSubsets?: AftSubsetPlan;
}
