import { LlmError, type CompletionRequest, type CompletionResult } from '../provider';

/**
 * A provider's batch API: submit many requests at once (at a discount), poll until the batch ends, then
 * read one result per request. Each call is one attempt; errors are classified LlmErrors.
 */
export interface BatchItem {
  /** The item's deterministic id (the document id): matches results to requests. */
  customId: string;
  request: CompletionRequest;
}

export type BatchItemResult =
  | { customId: string; ok: true; result: CompletionResult }
  /** errored, expired, canceled or missing from the output: the item is retried, never paid twice. */
  | { customId: string; ok: false; reason: string };

export interface BatchStatus {
  id: string;
  /** The provider's own word (in_progress, ended, completed, ...), for the heartbeat and logs. */
  status: string;
  /** No more results will come: read them. */
  ended: boolean;
}

export interface BatchClient {
  submit(items: BatchItem[]): Promise<string>;
  poll(batchId: string): Promise<BatchStatus>;
  results(batchId: string): Promise<BatchItemResult[]>;
}

/** A poll that fails this many times in a row fails the activity (its retry resumes the same batch). */
const MAX_POLL_ERRORS = 10;

/**
 * Poll a submitted batch until it ends, every `pollMs`. A lost poll is no reason to give up on a paid batch:
 * poll again, and past MAX_POLL_ERRORS let Temporal retry the activity, which resumes the same batch from
 * its record. `heartbeat` gets the provider's status at least every 5 s while waiting (a poll interval may be
 * longer than the heartbeat timeout).
 */
export async function pollBatchUntilEnded(
  client: BatchClient,
  batchId: string,
  opts: { pollMs: number; heartbeat: (status: string) => void; sleep?: (ms: number) => Promise<void> },
): Promise<void> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let errors = 0;
  for (;;) {
    let status: string;
    try {
      const s = await client.poll(batchId);
      errors = 0;
      status = s.status;
      if (s.ended) return;
    } catch (e) {
      if (!(e instanceof LlmError && e.retryable) || ++errors >= MAX_POLL_ERRORS) throw e;
      status = `poll failed (${errors}): ${e.message}`;
    }
    for (let waited = 0; waited < opts.pollMs; waited += 5000) {
      opts.heartbeat(status);
      await sleep(Math.min(5000, opts.pollMs - waited));
    }
  }
}
