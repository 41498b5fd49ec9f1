/**
 * Request and token rate limits for one API key, shared by every call this worker process makes on it
 * (all workflows, all activities). Sliding window: a call starts only if, counting it, no limit is
 * exceeded over the last `perSeconds`. Output tokens are reserved at the request's cap and trued up to
 * the reported usage when the call returns. A Retry-After from the server, or a usage-limit/credit
 * error, holds every call on the key; during a usage-limit hold one call at a time goes through as a
 * probe, and its success releases the others.
 */
export interface RateLimits {
  requests?: number;
  inputTokens?: number;
  outputTokens?: number;
  perSeconds: number;
}

interface Entry {
  at: number;
  inputTokens: number;
  outputTokens: number;
}

export interface Ticket {
  /** Report what the call really used (or that it failed: pass zeros, the request still counts). */
  settle(used: { inputTokens: number; outputTokens: number }): void;
}

export interface LimiterClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: LimiterClock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export class KeyRateLimiter {
  private readonly log: Entry[] = [];
  private queue: Promise<void> = Promise.resolve();
  private holdUntil = 0;
  private usageLimited = false;
  private probing = false;
  /** How long to wait between probes while the key is over its usage limit. */
  probeEveryMs = 30_000;
  /**
   * Calls stay in the window this much longer than `perSeconds` (2% of it, within 100–250 ms): the
   * server counts a request when it arrives, and jitter (a new connection's handshake, say) can bunch
   * arrivals that left here a full window apart.
   */
  marginMs: number;

  constructor(
    readonly limits: RateLimits,
    private readonly clock: LimiterClock = realClock,
  ) {
    this.marginMs = Math.min(250, Math.max(100, limits.perSeconds * 20));
    for (const [k, v] of Object.entries(limits)) {
      if (v !== undefined && !(typeof v === 'number' && v > 0))
        throw new Error(`rate limit ${k} must be a positive number, got ${v}`);
    }
  }

  /** Wait for room, in arrival order; the returned ticket must be settled when the call ends. */
  acquire(estimate: { inputTokens: number; outputTokens: number }): Promise<Ticket> {
    const turn = this.queue.then(() => this.waitForRoom(estimate));
    this.queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  /** The server asked for a pause (Retry-After): no call on this key starts before it ends. */
  backOff(ms: number): void {
    this.holdUntil = Math.max(this.holdUntil, this.clock.now() + ms);
  }

  /** A usage-limit or credit error: hold the key, letting one probe through every probeEveryMs. */
  usageLimitHit(): void {
    this.usageLimited = true;
    this.backOff(this.probeEveryMs);
  }

  get heldOnUsageLimit(): boolean {
    return this.usageLimited;
  }

  private fits(e: { inputTokens: number; outputTokens: number }): boolean {
    const { requests, inputTokens, outputTokens } = this.limits;
    const sum = this.log.reduce((s, x) => ({ n: s.n + 1, i: s.i + x.inputTokens, o: s.o + x.outputTokens }), {
      n: 0,
      i: 0,
      o: 0,
    });
    // A single call larger than a token limit could never fit: let it through alone rather than hang.
    const alone = this.log.length === 0;
    return (
      (requests === undefined || sum.n + 1 <= requests) &&
      (inputTokens === undefined || alone || sum.i + e.inputTokens <= inputTokens) &&
      (outputTokens === undefined || alone || sum.o + e.outputTokens <= outputTokens)
    );
  }

  private async waitForRoom(estimate: { inputTokens: number; outputTokens: number }): Promise<Ticket> {
    const windowMs = this.limits.perSeconds * 1000 + this.marginMs;
    for (;;) {
      const now = this.clock.now();
      while (this.log.length && this.log[0].at <= now - windowMs) this.log.shift();
      if (now < this.holdUntil) {
        await this.clock.sleep(this.holdUntil - now);
        continue;
      }
      if (this.usageLimited && this.probing) {
        await this.clock.sleep(Math.min(1000, this.probeEveryMs));
        continue;
      }
      if (this.fits(estimate)) {
        const entry: Entry = { at: now, inputTokens: estimate.inputTokens, outputTokens: estimate.outputTokens };
        this.log.push(entry);
        const probe = this.usageLimited;
        if (probe) this.probing = true;
        return {
          settle: (used) => {
            entry.inputTokens = used.inputTokens;
            entry.outputTokens = used.outputTokens;
            if (probe) this.probing = false;
          },
        };
      }
      // Sleep until the oldest call leaves the window, then look again.
      await this.clock.sleep(Math.max(1, this.log[0].at + windowMs - now));
    }
  }

  /** A call on the key succeeded: a usage-limit hold is over. */
  succeeded(): void {
    this.usageLimited = false;
  }
}
