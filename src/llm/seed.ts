import { createHash } from 'node:crypto';
import type { CompletionRequest } from './provider';

/**
 * Sampling seeds derived from each item's key, so the same experiment asks every provider that honours
 * a seed for the same sample on every run: a corpus regenerated from an empty store is the same corpus.
 */
export function seedOfKey(key: string): number {
  // 31 bits: every server accepts it as a (signed) integer seed.
  return createHash('sha256').update(key).digest().readUInt32BE(0) >>> 1;
}

/** The request's own seed, else one derived from its item key (none without a key: the sample is unseeded). */
export function requestSeed(req: Pick<CompletionRequest, 'seed' | 'requestId'>): number | undefined {
  return req.seed ?? (req.requestId === undefined ? undefined : seedOfKey(req.requestId));
}

/**
 * Whether a provider reproduces a sample from its seed: the local model does (same model file, same build,
 * same prompt evaluation; src/llm/local-llama.ts), OpenAI-compatible servers at best effort (vLLM honours
 * `seed`, OpenAI documents it as best effort, other servers may ignore it), Anthropic takes no seed.
 */
export type Reproducibility = 'yes' | 'best-effort' | 'no';

export function reproducibilityOf(providerKind: string): Reproducibility {
  if (providerKind === 'local') return 'yes';
  if (providerKind === 'openai') return 'best-effort';
  return 'no';
}

/** The weakest of several: a corpus is as reproducible as its least reproducible item. */
export function weakestReproducibility(values: Iterable<Reproducibility>): Reproducibility {
  let worst: Reproducibility = 'yes';
  for (const v of values) {
    if (v === 'no') return 'no';
    if (v === 'best-effort') worst = 'best-effort';
  }
  return worst;
}
