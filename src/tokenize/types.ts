import type { TokenSummary } from './packed-format';

/** What the tokenize stage hands on through Temporal: URIs, hashes and counts, never token data. */
export interface TokenizedRef {
  manifestUri: string;
  sha256: string;
  numSequences: number;
  numTokens: number;
  tokenizerUri: string;
  vocabSize: number;
  /**
   * The tokenizer by name (a preset, or model:<folder>) and sha256 (of tokenizer.json; a folder's with its
   * config): what results.json records and msm compare checks. Absent in refs made before it was recorded.
   */
  tokenizer?: { name: string; sha256: string };
  /** Packed corpora: exact token counts per document (JSONL id, tokens), their summary and histogram SVG. */
  documentStats?: {
    documentTokensUri: string;
    summaryUri: string;
    histogramUri: string;
    summary: TokenSummary;
  };
}
