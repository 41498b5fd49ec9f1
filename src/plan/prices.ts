import type { ProviderSettings } from '../config/experiment-schema';
import type { Price } from '../cost/usage';

/**
 * List prices of the LLM APIs the repo's experiment files and docs name (USD per million tokens), used by
 * `msm plan` when a provider block gives no `price` of its own. Dated: prices change; the experiment's own
 * `provider.price` always wins. Update a row (and its date) from the provider's pricing page.
 */
export interface PriceRow {
  provider: 'anthropic' | 'openai';
  /** Model id prefix: "claude-sonnet-4-5" also prices "claude-sonnet-4-5-20250929". */
  model: string;
  inputPerMillion: number;
  outputPerMillion: number;
  /** Off every price through the batch API (both providers: half price). */
  batchDiscount: number;
  /** When the row was read from the provider's public price list. */
  asOf: string;
}

export const LLM_PRICES: readonly PriceRow[] = [
  {
    provider: 'anthropic',
    model: 'claude-opus-4-5',
    inputPerMillion: 5,
    outputPerMillion: 25,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'anthropic',
    model: 'claude-opus-4-1',
    inputPerMillion: 15,
    outputPerMillion: 75,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'anthropic',
    model: 'claude-sonnet-4-5',
    inputPerMillion: 3,
    outputPerMillion: 15,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'anthropic',
    model: 'claude-sonnet-4',
    inputPerMillion: 3,
    outputPerMillion: 15,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'anthropic',
    model: 'claude-haiku-4-5',
    inputPerMillion: 1,
    outputPerMillion: 5,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'anthropic',
    model: 'claude-3-5-haiku',
    inputPerMillion: 0.8,
    outputPerMillion: 4,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'openai',
    model: 'gpt-5-mini',
    inputPerMillion: 0.25,
    outputPerMillion: 2,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'openai',
    model: 'gpt-5',
    inputPerMillion: 1.25,
    outputPerMillion: 10,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'openai',
    model: 'gpt-4.1-mini',
    inputPerMillion: 0.4,
    outputPerMillion: 1.6,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'openai',
    model: 'gpt-4.1',
    inputPerMillion: 2,
    outputPerMillion: 8,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'openai',
    model: 'gpt-4o-mini',
    inputPerMillion: 0.15,
    outputPerMillion: 0.6,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
  {
    provider: 'openai',
    model: 'gpt-4o',
    inputPerMillion: 2.5,
    outputPerMillion: 10,
    batchDiscount: 0.5,
    asOf: '2025-11',
  },
];

/**
 * What an endpoint of unknown price (a self-hosted "generator" behind an OpenAI-compatible server, say) is
 * planned at: the paper's judge, Claude Sonnet. Deliberately not zero: a plan that says $0 for 150k judge
 * calls would be the most misleading answer. A free endpoint says so with `price: {inputPerMillion: 0, ...}`.
 */
export const ASSUMED_PRICE_MODEL = 'claude-sonnet-4-5';

export interface ResolvedPrice {
  /** Undefined: the local model, which costs nothing. */
  price?: Price;
  /** Where the price came from, as the plan prints it. */
  basis: string;
  /** True when neither the file nor the table knew the model. */
  assumed: boolean;
}

/** The table row a model id falls under: the longest model prefix of the same provider (or any provider). */
export function priceRowOf(model: string, provider?: string): PriceRow | undefined {
  const id = model.toLowerCase().replace(/^.*\//, '');
  const rows = LLM_PRICES.filter((r) => id.startsWith(r.model) && (!provider || r.provider === provider));
  return rows.sort((a, b) => b.model.length - a.model.length)[0];
}

const asPrice = (r: PriceRow): Price => ({
  inputPerMillion: r.inputPerMillion,
  outputPerMillion: r.outputPerMillion,
  batchDiscount: r.batchDiscount,
});

/** The price a provider block is planned at: its own, else the table's, else the assumed row (flagged). */
export function resolvePrice(p: ProviderSettings | { kind: 'openai'; model: string; price?: Price }): ResolvedPrice {
  if (p.kind === 'local') return { basis: 'local model: free', assumed: false };
  if (p.price) return { price: p.price, basis: `${p.model}: the experiment's price`, assumed: false };
  // An OpenAI-compatible endpoint may serve a Claude model through a proxy: any provider's row matches then.
  const row = priceRowOf(p.model, p.kind === 'anthropic' ? 'anthropic' : undefined) ?? priceRowOf(p.model);
  if (row)
    return { price: asPrice(row), basis: `${p.model}: price table, ${row.model} as of ${row.asOf}`, assumed: false };
  const assumed = LLM_PRICES.find((r) => r.model === ASSUMED_PRICE_MODEL)!;
  return {
    price: asPrice(assumed),
    basis: `${p.model}: no price in the file or the table, planned at ${assumed.model} (as of ${assumed.asOf}); set its price (0 for a free endpoint)`,
    assumed: true,
  };
}

/** A GPU's peak and memory bandwidth (datasheet figures, dense bf16), and a rental rate when none is set. */
export interface GpuRow {
  gpu: string;
  pattern: RegExp;
  /** GiB the memory planner knows it by (compute.gpuMemoryGiB), to name a GPU given only its memory. */
  gib: number;
  peakTflops: number;
  bandwidthTBs: number;
  /** USD per GPU-hour planned when compute gives no price: an assumed on-demand cloud rate, not a quote. */
  usdPerHour: number;
}

export const GPU_TABLE: readonly GpuRow[] = [
  { gpu: 'H200', pattern: /H200/i, gib: 139.8, peakTflops: 989, bandwidthTBs: 4.8, usdPerHour: 3.5 },
  { gpu: 'H100', pattern: /H100/i, gib: 79.2, peakTflops: 989, bandwidthTBs: 3.35, usdPerHour: 2.5 },
  { gpu: 'A100 80GB', pattern: /A100.*80\s*GB/i, gib: 79.2, peakTflops: 312, bandwidthTBs: 2.0, usdPerHour: 1.6 },
  { gpu: 'A100 40GB', pattern: /A100/i, gib: 39.4, peakTflops: 312, bandwidthTBs: 1.55, usdPerHour: 1.2 },
  { gpu: 'L40S', pattern: /L40S|\bA40\b/i, gib: 44.4, peakTflops: 362, bandwidthTBs: 0.86, usdPerHour: 0.9 },
  { gpu: 'RTX 4090', pattern: /4090/, gib: 23.6, peakTflops: 165, bandwidthTBs: 1.0, usdPerHour: 0.7 },
];

/** Where the GPU table's rates come from, printed beside a GPU price the experiment did not set. */
export const GPU_RATE_NOTE =
  'assumed on-demand rate (2026-12), not a quote: set compute.pricePerHour / pricePerGpuHour';
