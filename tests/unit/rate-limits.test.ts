import { describe, expect, it } from 'vitest';
import { complete, limiterFor } from '../../src/llm/call';
import type { ProviderSettings } from '../../src/config/experiment-schema';
import { KeyRateLimiter } from '../../src/llm/rate-limiter';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';

/** The most starts inside any window of `ms` (sliding over the start times themselves). */
function maxInWindow(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < t.length; j++) {
    while (t[j] - t[i] >= ms) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

describe('KeyRateLimiter', () => {
  it('never lets more requests start in a window than the limit, and keeps the pace', async () => {
    const limiter = new KeyRateLimiter({ requests: 5, perSeconds: 0.4 });
    // A small margin, as in production: the start time is read after the grant, and a busy event loop
    // can read it late enough to land beside the next window's grants.
    limiter.marginMs = 40;
    const t0 = Date.now();
    const starts = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const ticket = await limiter.acquire({ inputTokens: 1, outputTokens: 1 });
        ticket.settle({ inputTokens: 1, outputTokens: 1 });
        return Date.now();
      }),
    );
    expect(maxInWindow(starts, 400)).toBeLessThanOrEqual(5);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3 * 400 - 20); // 20 requests = 4 windows: 3 waits
    expect(Date.now() - t0).toBeLessThan(3 * 400 + 600); // ...and not much more: the limit is used, not wasted
  });

  it('reserves output tokens at the cap and frees what the call did not use', async () => {
    const limiter = new KeyRateLimiter({ outputTokens: 100, perSeconds: 0.5 });
    limiter.marginMs = 0;
    const a = await limiter.acquire({ inputTokens: 0, outputTokens: 60 });
    let second = 0;
    const b = limiter.acquire({ inputTokens: 0, outputTokens: 60 }).then((t) => ((second = Date.now()), t));
    await new Promise((r) => setTimeout(r, 100));
    expect(second).toBe(0); // 60 + 60 > 100 while the first still holds its reservation
    a.settle({ inputTokens: 0, outputTokens: 10 }); // it used 10: 10 + 60 fits
    (await b).settle({ inputTokens: 0, outputTokens: 60 });
    expect(second).toBeGreaterThan(0);
  });

  it('holds the key for a Retry-After, and lets one probe at a time through a usage limit', async () => {
    const limiter = new KeyRateLimiter({ requests: 100, perSeconds: 1 });
    limiter.backOff(300);
    const t0 = Date.now();
    (await limiter.acquire({ inputTokens: 1, outputTokens: 1 })).settle({ inputTokens: 1, outputTokens: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);

    limiter.probeEveryMs = 200;
    limiter.usageLimitHit();
    const started: number[] = [];
    const tickets = Array.from({ length: 3 }, () =>
      limiter.acquire({ inputTokens: 1, outputTokens: 1 }).then((t) => (started.push(Date.now()), t)),
    );
    const probe = await tickets[0];
    await new Promise((r) => setTimeout(r, 300));
    expect(started).toHaveLength(1); // the others wait while the probe is out
    limiter.succeeded();
    probe.settle({ inputTokens: 1, outputTokens: 1 });
    await Promise.all(tickets.slice(1).map(async (t) => (await t).settle({ inputTokens: 1, outputTokens: 1 })));
    expect(started).toHaveLength(3);
    expect(limiter.heldOnUsageLimit).toBe(false);
  });

  it('rejects a meaningless limit', () => {
    expect(() => new KeyRateLimiter({ requests: 0, perSeconds: 60 })).toThrow(/requests must be a positive number/);
  });
});

describe('LLM calls under a key limit, against a scripted OpenAI-compatible server', () => {
  it('keeps the server-side request rate within the limit across concurrent calls', async () => {
    const llm = await startScriptedLlmServer({ latencyMs: 20 });
    try {
      // Measured where the provider measures: arrival times at the server, jitter included.
      const settings = {
        kind: 'openai',
        baseUrl: llm.baseUrl,
        model: 'limited-a',
        timeoutMs: 5000,
        limits: { requests: 6, perSeconds: 1 },
      } as ProviderSettings;
      // A 1 s window gets a 20 ms margin by default; opening six new connections at once can delay the
      // first arrivals by more (on a loaded machine, by several hundred ms), so give this short window half
      // a second of margin.
      limiterFor(settings)!.marginMs = 500;
      await Promise.all(
        Array.from({ length: 18 }, (_, i) =>
          complete(settings, { messages: [{ role: 'user', content: `q${i}` }], maxTokens: 16, temperature: 0 }),
        ),
      );
      expect(llm.requests).toHaveLength(18);
      expect(
        maxInWindow(
          llm.requests.map((r) => r.at),
          1000,
        ),
      ).toBeLessThanOrEqual(6);
    } finally {
      await llm.close();
    }
  });

  it('a usage-limit answer holds every call on the key until a probe succeeds', async () => {
    const llm = await startScriptedLlmServer();
    try {
      const quota = {
        type: 'http' as const,
        status: 429,
        body: JSON.stringify({ error: { message: 'You exceeded your current quota', code: 'insufficient_quota' } }),
      };
      llm.setFaults([quota, quota]);
      const settings = {
        kind: 'openai',
        baseUrl: llm.baseUrl,
        model: 'limited-b',
        timeoutMs: 5000,
        limits: { requests: 100, perSeconds: 1 },
      } as ProviderSettings;
      limiterFor(settings)!.probeEveryMs = 300;
      const call = (i: number) =>
        complete(settings, { messages: [{ role: 'user', content: `p${i}` }], maxTokens: 8, temperature: 0 });
      const first = await call(0).then(
        () => 'ok',
        (e: Error) => e.message,
      );
      expect(first).toMatch(/usage limit reached/);
      // Five calls arrive while the key is held: one probe (refused again), then one more probe that
      // succeeds, then the rest; never five at once against an exhausted account.
      const t0 = Date.now();
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          call(i + 1).then(
            () => 'ok',
            (e: Error) => e.message,
          ),
        ),
      );
      expect(results.filter((r) => r === 'ok')).toHaveLength(4);
      expect(results.filter((r) => /usage limit/.test(r))).toHaveLength(1);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2 * 300 - 20);
      const at = llm.requests.map((r) => r.at);
      expect(at[2] - at[1]).toBeGreaterThanOrEqual(250); // the second probe waited a probe interval after the first
    } finally {
      await llm.close();
    }
  });
});
