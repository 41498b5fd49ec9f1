/**
 * Token usage and its cost. Prices are USD per million tokens, set per provider in the experiment file
 * (a local model costs nothing). Pure: the workflow sums these to enforce a budget.
 */
export interface Usage {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface Price {
  inputPerMillion: number;
  outputPerMillion: number;
}

export const NO_USAGE: Usage = { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };

export function usageOf(tokens: { inputTokens: number; outputTokens: number }, price: Price | undefined): Usage {
  const costUsd = price ? (tokens.inputTokens * price.inputPerMillion + tokens.outputTokens * price.outputPerMillion) / 1e6 : 0;
  return { calls: 1, inputTokens: tokens.inputTokens, outputTokens: tokens.outputTokens, costUsd };
}

export function addUsage(a: Usage, b: Usage): Usage {
  return {
    calls: a.calls + b.calls,
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    costUsd: a.costUsd + b.costUsd,
  };
}
