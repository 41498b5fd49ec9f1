/**
 * Token usage and its cost. Prices are USD per million tokens, set per provider in the experiment file
 * (a local model costs nothing). Pure: the workflow sums these to enforce a budget.
 */
export interface Usage {
  calls: number;
  /** Every input token, cache writes and reads included. */
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface Price {
  inputPerMillion: number;
  outputPerMillion: number;
  /** Prompt-cache writes and reads; each defaults to the input price. */
  cacheWritePerMillion?: number;
  cacheReadPerMillion?: number;
  /** Fraction off every price for batch-API calls. */
  batchDiscount?: number;
}

/** What one call reports. `inputTokens` are the uncached ones; cache writes and reads come apart. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheWriteTokens?: number;
  cacheReadTokens?: number;
}

export const NO_USAGE: Usage = { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };

export function usageOf(tokens: TokenUsage, price: Price | undefined, opts: { batch?: boolean } = {}): Usage {
  const write = tokens.cacheWriteTokens ?? 0;
  const read = tokens.cacheReadTokens ?? 0;
  let costUsd = 0;
  if (price) {
    costUsd =
      (tokens.inputTokens * price.inputPerMillion +
        write * (price.cacheWritePerMillion ?? price.inputPerMillion) +
        read * (price.cacheReadPerMillion ?? price.inputPerMillion) +
        tokens.outputTokens * price.outputPerMillion) /
      1e6;
    if (opts.batch) costUsd *= 1 - (price.batchDiscount ?? 0);
  }
  return { calls: 1, inputTokens: tokens.inputTokens + write + read, outputTokens: tokens.outputTokens, costUsd };
}

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    calls: a.calls + b.calls,
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    costUsd: a.costUsd + b.costUsd,
  };
}
