import type { LlmFault } from './scripted-llm-server';

/** What happens to one item of a scripted batch. */
export type BatchItemFault = 'errored' | 'expired' | 'truncate' | null | undefined;

export interface ScriptedBatch<T> {
  id: string;
  createdAt: number;
  /** One outcome per item, in request order. */
  outcomes: { customId: string; outcome: T }[];
}

/**
 * Bookkeeping of a scripted batch API shared by the Anthropic and OpenAI wire formats: every item
 * submitted (a batch item is one paid call), when a batch ends, and the faults to inject into polls
 * and items.
 */
export class ScriptedBatchBook<T> {
  readonly batches = new Map<string, ScriptedBatch<T>>();
  /** Every item ever submitted, in order. */
  readonly items: { batchId: string; customId: string }[] = [];
  /** How many times each custom id was submitted. */
  private readonly seen = new Map<string, number>();
  /** While held, no batch ends (a test kills a worker meanwhile). */
  held = false;
  /** A batch ends this long after it was created. */
  batchMs = 200;
  /** Faults for the next polls of a batch's status (null = answer normally). */
  pollFaults: (LlmFault | null)[] = [];
  polls = 0;
  /** The fault of an item on its nth submission (1-based). */
  itemFault: (customId: string, nth: number) => BatchItemFault = () => null;

  constructor(private readonly idPrefix: string) {}

  create(customIds: string[], outcome: (customId: string, fault: BatchItemFault) => T): ScriptedBatch<T> {
    const id = `${this.idPrefix}${String(this.batches.size + 1).padStart(4, '0')}`;
    const outcomes = customIds.map((customId) => {
      const nth = (this.seen.get(customId) ?? 0) + 1;
      this.seen.set(customId, nth);
      this.items.push({ batchId: id, customId });
      return { customId, outcome: outcome(customId, this.itemFault(customId, nth)) };
    });
    const batch = { id, createdAt: Date.now(), outcomes };
    this.batches.set(id, batch);
    return batch;
  }

  ended(b: ScriptedBatch<T>): boolean {
    return !this.held && Date.now() >= b.createdAt + this.batchMs;
  }

  nextPollFault(): LlmFault | null | undefined {
    this.polls++;
    return this.pollFaults.shift();
  }
}
