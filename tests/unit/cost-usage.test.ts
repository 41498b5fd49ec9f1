import { describe, expect, it } from 'vitest';
import { addUsage, usageOf } from '../../src/cost/usage';
import { parseCompletion } from '../../src/llm/openai-compatible';

describe('cost of a call', () => {
  const price = {
    inputPerMillion: 2,
    outputPerMillion: 8,
    cacheWritePerMillion: 2.5,
    cacheReadPerMillion: 0.5,
    batchDiscount: 0.5,
  };

  it('prices uncached input, cache writes, cache reads and output apart; the batch discount comes off the total', () => {
    const u = usageOf({ inputTokens: 1000, outputTokens: 500, cacheWriteTokens: 4000, cacheReadTokens: 10_000 }, price);
    expect(u.costUsd).toBeCloseTo((1000 * 2 + 4000 * 2.5 + 10_000 * 0.5 + 500 * 8) / 1e6, 12);
    expect(u).toMatchObject({ calls: 1, inputTokens: 15_000, outputTokens: 500 });
    expect(
      usageOf({ inputTokens: 1000, outputTokens: 500, cacheWriteTokens: 4000, cacheReadTokens: 10_000 }, price, {
        batch: true,
      }).costUsd,
    ).toBeCloseTo(u.costUsd / 2, 12);
    // No batch discount configured: a batch costs the list price; no price: nothing.
    expect(
      usageOf({ inputTokens: 10, outputTokens: 0 }, { inputPerMillion: 1e6, outputPerMillion: 0 }, { batch: true })
        .costUsd,
    ).toBe(10);
    expect(usageOf({ inputTokens: 10, outputTokens: 10 }, undefined).costUsd).toBe(0);
    expect(addUsage(u, u)).toMatchObject({ calls: 2, inputTokens: 30_000, costUsd: 2 * u.costUsd });
  });

  it('reads the cached part of an OpenAI prompt as cache reads', () => {
    const body = (details: unknown) =>
      JSON.stringify({
        model: 'gpt-x',
        choices: [{ message: { content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 100, completion_tokens: 5, prompt_tokens_details: details },
      });
    expect(parseCompletion(body({ cached_tokens: 64 }), 'm').usage).toEqual({
      inputTokens: 36,
      outputTokens: 5,
      cacheReadTokens: 64,
    });
    expect(parseCompletion(body({ cached_tokens: 0 }), 'm').usage).toEqual({ inputTokens: 100, outputTokens: 5 });
    expect(parseCompletion(body(null), 'm').usage).toEqual({ inputTokens: 100, outputTokens: 5 });
  });
});
