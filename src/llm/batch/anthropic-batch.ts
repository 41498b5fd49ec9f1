import {
  anthropicClient,
  anthropicError,
  anthropicParams,
  parseAnthropicMessage,
  type AnthropicOptions,
} from '../anthropic';
import { LlmError } from '../provider';
import type { BatchClient, BatchItemResult } from './batch-client';

/** Anthropic Message Batches: POST /v1/messages/batches, GET it until `ended`, then its results JSONL. */
export function createAnthropicBatchClient(opts: AnthropicOptions): BatchClient {
  const client = anthropicClient(opts);
  const where = `Anthropic message batches (${opts.baseUrl ?? 'api'}, model ${opts.model})`;
  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw anthropicError(e, `${where} ${what}`);
    }
  };
  return {
    async submit(items) {
      const requests = items.map((i) => ({ custom_id: i.customId, params: anthropicParams(opts.model, i.request) }));
      const batch = await call('create', () => client.messages.batches.create({ requests }));
      return batch.id;
    },
    async poll(batchId) {
      const b = await call(`retrieve ${batchId}`, () => client.messages.batches.retrieve(batchId));
      return { id: b.id, status: b.processing_status, ended: b.processing_status === 'ended' };
    },
    async results(batchId) {
      return call(`results ${batchId}`, async () => {
        const out: BatchItemResult[] = [];
        for await (const line of await client.messages.batches.results(batchId)) {
          const r = line.result;
          if (r.type === 'succeeded') {
            try {
              out.push({ customId: line.custom_id, ok: true, result: parseAnthropicMessage(r.message, opts.model) });
            } catch (e) {
              out.push({ customId: line.custom_id, ok: false, reason: (e as LlmError).message });
            }
          } else {
            const detail = r.type === 'errored' ? `: ${JSON.stringify(r.error).slice(0, 200)}` : '';
            out.push({ customId: line.custom_id, ok: false, reason: `${r.type}${detail}` });
          }
        }
        return out;
      });
    },
  };
}
