import { ApplicationFailure } from '@temporalio/common';

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

function asError(e: unknown): Error | undefined {
  return e instanceof Error ? e : undefined;
}
