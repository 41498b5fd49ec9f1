import type { AftGenerateSettings } from '../config/experiment-schema';
import type { Usage } from '../cost/usage';
import type { ModelIdentity } from '../config/model-identity';
import type { QuestionType } from './prompts';

/** The AFT data stage's job, refs and results as they cross Temporal, and the records it stores. */
export interface AftDataJob {
  storeUri: string;
  specKey: string;
  specHash: string;
  generate: AftGenerateSettings;
  /** baseModel.identity: the prompts name the model; absent, the prompts (and the data id) are as before. */
  identity?: ModelIdentity;
}

export interface AftDataRef {
  storeUri: string;
  /** Content-derived folder: the same spec + settings + prompts reuse it across experiments. */
  prefix: string;
  domains: number;
  /** (domain, question type) pairs: the unit of question generation. */
  cells: number;
}

export interface AftQuestion {
  id: string;
  text: string;
  domain: string;
  type: QuestionType;
}

/** A round's questions after dedup, and which of them (with earlier rounds' spares) get answered. */
export interface RoundSelection {
  round: number;
  generated: number;
  duplicates: Array<{ id: string; of: string; similarity: number }>;
  unique: AftQuestion[];
  answer: AftQuestion[];
}

export interface StoredResponse {
  id: string;
  question: string;
  text: string;
  /** Why the response cannot be used (token cap hit, no think block, ...), or null. */
  problem: string | null;
  reasoning?: string;
  answer?: string;
  generator: string;
  promptVersion: string;
  usage: Usage;
}

export interface StoredVerdict {
  id: string;
  verdict: 'INCLUDE' | 'EXCLUDE';
  reason: string;
  usage: Usage;
}

export interface AnswerBatchResult {
  answered: number;
  reused: number;
  included: number;
  excluded: number;
  malformed: number;
  llmCalls: number;
  usage: Usage;
}

export interface AftDataFile {
  key: string;
  sha256: string;
}

export interface AftDataCounts {
  requested: number;
  examples: number;
  /** requested - examples when every round was used and still too few passed. */
  shortfall: number;
  domains: number;
  questionsGenerated: number;
  duplicates: number;
  answered: number;
  /** Responses unusable as data: cut by the token cap or without a closed think block. */
  malformed: number;
  excludedByFilter: number;
  included: number;
  rounds: number;
  backfillRounds: number;
}

export interface AftDataResult {
  manifestKey: string;
  withReasoning: AftDataFile;
  withoutReasoning: AftDataFile;
  examples: number;
  counts: AftDataCounts;
  /** What every stored item cost to make, reused ones included. */
  usage: Usage;
}
