import { badInput, transient } from '../temporal/failures';
import { LlmError } from './provider';

/** Map provider errors to Temporal failures; anything unknown is left to the default (retryable) policy. */
export function classifyLlmError(err: unknown): unknown {
  if (err instanceof LlmError) {
    return err.retryable ? transient(`LLM: ${err.message}`, err.retryAfterMs) : badInput(`LLM: ${err.message}`);
  }
  return err;
}
