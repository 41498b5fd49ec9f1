import type { Experiment } from '../config/experiment-schema';
import type { ModelIdentity } from '../config/model-identity';
import type { TokenUsage, Usage } from '../cost/usage';
import type { Reproducibility } from '../llm/seed';
import type { CorpusTargetStatus } from './target';

/** The corpus stage's values that cross Temporal (jobs, refs, counts) and its stored document record. */
export type AssemblySettings = Pick<Experiment['generation'], 'nearDuplicateThreshold' | 'truncated'>;

export interface CorpusJob {
  storeUri: string;
  specKey: string;
  specHash: string;
  generation: Experiment['generation'];
  /** baseModel.identity: the prompts name the model; absent, the prompts (and the corpus id) are as before. */
  identity?: ModelIdentity;
  /**
   * midtrain.seeds: which independent draw of the corpus this is (every item generated anew, under its own
   * keys). Absent for draw 0: the corpus (and id) every experiment always had.
   */
  draw?: number;
}

export interface CorpusDocument {
  id: string;
  text: string;
  truncated: boolean;
  domain: string;
  subdomain: string;
  specSection: string;
  type: string;
  idea: string;
  specHash: string;
  promptVersion: string;
  generator: string;
  /** sha256 of the document prompt (absent in documents written before it was stored). */
  promptSha256?: string;
  /** The sampling seed asked for, derived from the document's key (absent in documents written before seeds). */
  seed?: number;
  /** As reported (Anthropic: inputTokens are the uncached ones, cache writes and reads apart) and what it cost. */
  usage: TokenUsage & { costUsd?: number };
}

export interface CorpusRef {
  storeUri: string;
  /** Content-derived folder of this corpus: the same spec + settings + prompts reuse it. */
  prefix: string;
  /** Which part of the stored plan this run uses; absent in refs made before top-up (then: everything stored). */
  selection?: CorpusSelection;
}

/**
 * The first `units` units, their first `typesPerUnit` types and those types' first `ideasPerType` ideas:
 * a corpus folder may hold more (from a run with larger counts), and assembly takes only this part.
 */
export interface CorpusSelection {
  units: number;
  typesPerUnit: number;
  ideasPerType: number;
}

export interface UnitRange {
  from: number;
  to: number;
}

export interface DocumentBatchResult {
  generated: number;
  reused: number;
  truncated: number;
  llmCalls: number;
  /** What this activity paid for (reused items cost nothing). */
  usage: Usage;
  /** Batch mode: batches this activity submitted, and items it sent again in a follow-up batch. */
  batches?: number;
  batchItemRetries?: number;
}

/** What the document stage will cost, shown before it starts (and awaited when approval is required). */
export interface CorpusPreview {
  units: number;
  documents: number;
  /** Documents already written (the pilot, or an earlier run): they are not paid again. */
  documentsDone: number;
  projectedInputTokens: number;
  projectedOutputTokens: number;
  projectedCostUsd: number;
  /** 'pilot': per-document figures measured on the documents already written; 'cap': maxDocTokens as the bound. */
  basis: 'pilot' | 'cap';
  /** A few written documents to read before approving. */
  sampleUris: string[];
}

export interface CorpusManifestRef {
  manifestKey: string;
  hash: string;
  documents: number;
  /** Near-duplicates (MinHash Jaccard >= the threshold) of an earlier document, dropped. */
  duplicatesRemoved: number;
  /** Truncated documents dropped (generation.truncated = "drop"). */
  truncatedDropped: number;
  /** Truncated documents kept and flagged (generation.truncated = "keep"). */
  truncated: number;
  shardKeys: string[];
  /** Every document's generation cost, reused ones included: what this corpus cost to make. */
  documentUsage: Usage;
  /**
   * Whether generating again from an empty store gives this corpus: "yes" (local model, seeded from each
   * item's key), "best-effort" (OpenAI-compatible server sent the seed), "no" (Anthropic takes no seed, or
   * a document written before seeds). Absent in manifests written before it was recorded.
   */
  reproducible?: Reproducibility;
  /**
   * The kept documents' text in tokens, estimated as characters / 4 (the tokenize stage counts the model's
   * tokens). Absent in manifests written before it was recorded.
   */
  estimatedTokens?: number;
  /** generation.targetTokens set: where the corpus stands against it (set by the corpus workflow, not stored). */
  target?: CorpusTargetStatus;
}
