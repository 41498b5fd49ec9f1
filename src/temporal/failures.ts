import { ApplicationFailure } from '@temporalio/common';
import { LlmError } from '../llm/provider';

/** Bad input: fail the whole run at once with a message a person can act on. */
export function badInput(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type: 'BadInput', message, nonRetryable: true, cause: asError(cause) });
}

/** A transient fault: Temporal retries with backoff (or after `retryAfterMs` when the server said so). */
export function transient(message: string, retryAfterMs?: number, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'Transient',
    message,
    nonRetryable: false,
    nextRetryDelay: retryAfterMs && retryAfterMs > 0 ? retryAfterMs : undefined,
    cause: asError(cause),
  });
}

/** Map provider errors to Temporal failures; anything unknown is left to the default (retryable) policy. */
export function classifyLlmError(err: unknown): unknown {
  if (err instanceof LlmError) {
    return err.retryable ? transient(`LLM: ${err.message}`, err.retryAfterMs) : badInput(`LLM: ${err.message}`);
  }
  return err;
}

function asError(e: unknown): Error | undefined {
  return e instanceof Error ? e : undefined;
}
