import { expect } from 'vitest';
import { LlmError } from '../../src/llm/provider';

/** The LlmError a provider call fails with (the test fails if it succeeds or throws anything else). */
export async function llmFailure(p: Promise<unknown>): Promise<LlmError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LlmError);
  return e as LlmError;
}
