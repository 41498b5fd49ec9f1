import type { TokenSummary } from './packed-format';

/** What the tokenize stage hands on through Temporal: URIs, hashes and counts, never token data. */
export interface TokenizedRef {
  manifestUri: string;
  sha256: string;
  numSequences: number;
  numTokens: number;
  tokenizerUri: string;
  vocabSize: number;
  /** Packed corpora: exact token counts per document (JSONL id, tokens), their summary and histogram SVG. */
  documentStats?: {
    documentTokensUri: string;
    summaryUri: string;
    histogramUri: string;
    summary: TokenSummary;
  };
}
