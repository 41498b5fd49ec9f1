import type { CompletionRequest, CompletionResult } from '../provider';

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
