/**
 * How many units a corpus size target (generation.targetTokens) plans: here, below the experiment schema that
 * checks it against maxUnits; the rest of the target's logic (top-up) is src/corpus/target.ts. Pure.
 */
export interface CorpusSizing {
  targetTokens?: number;
  maxDocTokens: number;
  typesPerUnit: number;
  ideasPerType: number;
}

/** Characters per token in English prose: the estimate wherever text is sized before a tokenizer sees it. */
export const CHARS_PER_TOKEN = 4;

/** Estimated tokens of `chars` characters of text. */
export const estimatedTokens = (chars: number): number => Math.round(chars / CHARS_PER_TOKEN);

/** A kept document's tokens as a share of maxDocTokens: the paper's ≈41M tokens over 12,000 documents at 5,000. */
export const DOCUMENT_SHARE_OF_MAX = 0.68;

/** Expected tokens of one kept document. */
export const documentTokens = (g: Pick<CorpusSizing, 'maxDocTokens'>): number => DOCUMENT_SHARE_OF_MAX * g.maxDocTokens;

/** Units whose documents are expected to make generation.targetTokens; undefined without a target. */
export function unitsForTarget(g: CorpusSizing): number | undefined {
  if (g.targetTokens === undefined) return undefined;
  return Math.max(1, Math.ceil(g.targetTokens / (documentTokens(g) * g.typesPerUnit * g.ideasPerType)));
}
