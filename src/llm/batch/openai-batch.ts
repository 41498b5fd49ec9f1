import { httpError, parseCompletion, requestBody, transportError } from '../openai-compatible';
import { LlmError } from '../provider';
import type { BatchClient, BatchItemResult } from './batch-client';

export interface OpenAiBatchOptions {
  /** Endpoint root including the version, e.g. https://api.openai.com/v1 */
  baseUrl: string;
  model: string;
  apiKey?: string;
  timeoutMs?: number;
}

const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

/**
 * The OpenAI Batch API: upload the requests as a JSONL file (purpose "batch"), create a batch on it, poll
 * until it is final, then read the output and error files.
 */
export function createOpenAiBatchClient(opts: OpenAiBatchOptions): BatchClient {
  const root = opts.baseUrl.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const auth: Record<string, string> = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};

  async function http(method: string, path: string, body?: BodyInit, json = true): Promise<string> {
    const url = `${root}${path}`;
    let status: number;
    let text: string;
    let headers: Headers;
    try {
      const res = await fetch(url, {
        method,
        headers: json && body ? { ...auth, 'content-type': 'application/json' } : auth,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (e) {
      throw transportError(e, url, timeoutMs);
    }
    if (status < 200 || status >= 300) throw httpError(status, headers, text, opts);
    return text;
  }
  const parse = <T>(text: string, what: string): T => {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LlmError(`malformed ${what} response: not JSON: ${JSON.stringify(text.slice(0, 200))}`, true);
    }
  };

  return {
    async submit(items) {
      const lines = items.map((i) =>
        JSON.stringify({
          custom_id: i.customId,
          method: 'POST',
          url: '/v1/chat/completions',
          body: requestBody(opts.model, i.request),
        }),
      );
      const form = new FormData();
      form.append('purpose', 'batch');
      form.append('file', new Blob([`${lines.join('\n')}\n`], { type: 'application/jsonl' }), 'requests.jsonl');
      const file = parse<{ id?: string }>(await http('POST', '/files', form, false), 'file upload');
      if (!file.id) throw new LlmError('malformed file upload response: no id', true);
      const batch = parse<{ id?: string }>(
        await http(
          'POST',
          '/batches',
          JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
        ),
        'batch create',
      );
      if (!batch.id) throw new LlmError('malformed batch create response: no id', true);
      return batch.id;
    },
    async poll(batchId) {
      const b = parse<{ id: string; status: string }>(
        await http('GET', `/batches/${encodeURIComponent(batchId)}`),
        'batch',
      );
      return { id: batchId, status: b.status, ended: FINAL.has(b.status) };
    },
    async results(batchId) {
      const b = parse<{ output_file_id?: string | null; error_file_id?: string | null }>(
        await http('GET', `/batches/${encodeURIComponent(batchId)}`),
        'batch',
      );
      const out: BatchItemResult[] = [];
      for (const fileId of [b.output_file_id, b.error_file_id]) {
        if (!fileId) continue;
        const text = await http('GET', `/files/${encodeURIComponent(fileId)}/content`);
        for (const line of text.split('\n').filter((l) => l.trim()))
          out.push(itemResult(parse(line, 'batch output line'), opts.model));
      }
      return out;
    },
  };
}

interface OutputLine {
  custom_id: string;
  response?: { status_code?: number; body?: unknown } | null;
  error?: { code?: string; message?: string } | null;
}

function itemResult(line: OutputLine, model: string): BatchItemResult {
  const status = line.response?.status_code;
  if (status === 200 && !line.error) {
    try {
      return {
        customId: line.custom_id,
        ok: true,
        result: parseCompletion(JSON.stringify(line.response!.body), model),
      };
    } catch (e) {
      return { customId: line.custom_id, ok: false, reason: (e as Error).message };
    }
  }
  const why = line.error?.message ?? line.error?.code ?? `HTTP ${status ?? '?'}`;
  return { customId: line.custom_id, ok: false, reason: `errored: ${why}` };
}
