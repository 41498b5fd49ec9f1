import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScriptedBatchBook, type BatchItemFault } from './scripted-batches';
import {
  defaultContent,
  type ChatRequestBody,
  type FaultScript,
  type LlmFault,
  type RecordedRequest,
} from './scripted-llm-server';

/**
 * A real HTTP server speaking the Anthropic Messages wire format (POST /v1/messages) and Message Batches
 * (create, retrieve, results JSONL), for tests driven through the real @anthropic-ai/sdk. Answers are
 * the same deterministic content as the OpenAI-compatible scripted server's (a tool call's input for a
 * forced tool, else text), so runs compare by hash. The system prompt counts as a cache write the first
 * time it is answered and as a cache read after that.
 */
interface AnthropicBody {
  model?: string;
  max_tokens?: number;
  system?: string | { type: string; text: string; cache_control?: unknown }[];
  messages?: { role: string; content: string }[];
  tools?: { name: string; input_schema: Record<string, unknown> }[];
  tool_choice?: { type: string; name?: string };
}

type ItemOutcome = { type: 'succeeded'; message: unknown } | { type: 'errored'; error: unknown } | { type: 'expired' };

export interface ScriptedAnthropicOptions {
  faults?: FaultScript;
  latencyMs?: number;
}

export async function startScriptedAnthropicServer(opts: ScriptedAnthropicOptions = {}) {
  /** POST /v1/messages requests, each one paid call when answered. */
  const requests: RecordedRequest[] = [];
  let faults: FaultScript = opts.faults ?? [];
  const cached = new Set<string>();
  const book = new ScriptedBatchBook<ItemOutcome>('msgbatch_');
  let url = '';

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });

  function message(body: AnthropicBody, fault: LlmFault | BatchItemFault | null | undefined) {
    const systemText =
      typeof body.system === 'string' ? body.system : (body.system ?? []).map((b) => b.text).join('\n\n');
    const cacheable = Array.isArray(body.system) && body.system.some((b) => b.cache_control);
    const tool =
      body.tool_choice?.type === 'tool' ? body.tools?.find((t) => t.name === body.tool_choice?.name) : undefined;
    // The same content the OpenAI-compatible server gives for the same prompt.
    const chat: ChatRequestBody = {
      messages: [...(systemText ? [{ role: 'system', content: systemText }] : []), ...(body.messages ?? [])],
      response_format: tool ? { type: 'json_schema', json_schema: { schema: tool.input_schema } } : undefined,
    };
    const full = defaultContent(chat);
    const truncate = fault === 'truncate' || (typeof fault === 'object' && fault?.type === 'truncate');
    const wrong = typeof fault === 'object' && fault?.type === 'wrongContent';
    const refused = typeof fault === 'object' && fault?.type === 'refusal';
    const text = truncate
      ? full.slice(0, Math.floor(full.length / 2))
      : wrong
        ? (fault.content ?? 'Sure, in prose.')
        : refused
          ? (fault.refusal ?? '')
          : full;
    const content =
      tool && !truncate && !wrong && !refused
        ? [{ type: 'tool_use', id: 'toolu_1', name: tool.name, input: JSON.parse(full) as unknown }]
        : [{ type: 'text', text }];
    const sysWords = words(systemText);
    const hit = cacheable && cached.has(systemText);
    if (cacheable) cached.add(systemText);
    return {
      id: `msg_${hash(JSON.stringify(chat.messages)).slice(0, 12)}`,
      type: 'message',
      role: 'assistant',
      model: body.model ?? 'scripted',
      content,
      stop_reason: truncate ? 'max_tokens' : refused ? 'refusal' : tool && !wrong ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: words((body.messages ?? []).map((m) => m.content).join('\n')) + (cacheable ? 0 : sysWords),
        output_tokens: words(text),
        cache_creation_input_tokens: cacheable && !hit ? sysWords : 0,
        cache_read_input_tokens: hit ? sysWords : 0,
      },
    };
  }

  function batchJson(id: string) {
    const b = book.batches.get(id)!;
    const ended = book.ended(b);
    const count = (t: string) => (ended ? b.outcomes.filter((o) => o.outcome.type === t).length : 0);
    return {
      id,
      type: 'message_batch',
      processing_status: ended ? 'ended' : 'in_progress',
      request_counts: {
        processing: ended ? 0 : b.outcomes.length,
        succeeded: count('succeeded'),
        errored: count('errored'),
        canceled: 0,
        expired: count('expired'),
      },
      created_at: new Date(b.createdAt).toISOString(),
      expires_at: new Date(b.createdAt + 86_400_000).toISOString(),
      ended_at: ended ? new Date().toISOString() : null,
      archived_at: null,
      cancel_initiated_at: null,
      results_url: ended ? `${url}/v1/messages/batches/${id}/results` : null,
    };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string) {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/v1/messages') {
      const body = JSON.parse(raw) as AnthropicBody;
      const rec: RecordedRequest = {
        index: requests.length,
        body: body as ChatRequestBody,
        headers: req.headers,
        at: Date.now(),
      };
      requests.push(rec);
      const fault = typeof faults === 'function' ? faults(rec) : faults.shift();
      if (fault?.type === 'hang') return;
      if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
      if (res.destroyed) return;
      if (fault?.type === 'http') return sendFault(res, fault);
      if (fault?.type === 'drop') return req.socket.destroy();
      if (fault?.type === 'malformedBody') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"id":"msg_1","content":[');
      }
      const m = message(body, fault);
      rec.usage = { prompt_tokens: m.usage.input_tokens, completion_tokens: m.usage.output_tokens };
      return send(res, 200, m);
    }
    if (req.method === 'POST' && path === '/v1/messages/batches') {
      const { requests: items } = JSON.parse(raw) as { requests: { custom_id: string; params: AnthropicBody }[] };
      const params = new Map(items.map((i) => [i.custom_id, i.params]));
      const b = book.create(
        items.map((i) => i.custom_id),
        (id, fault): ItemOutcome =>
          fault === 'errored'
            ? {
                type: 'errored',
                error: { type: 'error', error: { type: 'api_error', message: 'scripted item error' } },
              }
            : fault === 'expired'
              ? { type: 'expired' }
              : { type: 'succeeded', message: message(params.get(id)!, fault) },
      );
      return send(res, 200, batchJson(b.id));
    }
    const m = /^\/v1\/messages\/batches\/([^/]+)(\/results)?$/.exec(path);
    if (req.method === 'GET' && m && book.batches.has(m[1])) {
      if (!m[2]) {
        const fault = book.nextPollFault();
        if (fault?.type === 'hang') return;
        if (fault?.type === 'drop') return req.socket.destroy();
        if (fault?.type === 'http') return sendFault(res, fault);
        return send(res, 200, batchJson(m[1]));
      }
      const b = book.batches.get(m[1])!;
      if (!book.ended(b))
        return send(res, 404, { type: 'error', error: { type: 'not_found_error', message: 'batch has not ended' } });
      res.writeHead(200, { 'content-type': 'application/binary' });
      return res.end(
        b.outcomes.map((o) => JSON.stringify({ custom_id: o.customId, result: o.outcome })).join('\n') + '\n',
      );
    }
    return send(res, 404, {
      type: 'error',
      error: { type: 'not_found_error', message: `no route ${req.method} ${path}` },
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    batches: book,
    /** Paid calls: answered messages plus batch items. */
    calls: () => requests.length + book.items.length,
    setFaults(f: FaultScript) {
      faults = f;
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function sendFault(res: http.ServerResponse, fault: Extract<LlmFault, { type: 'http' }>) {
  res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
  res.end(
    fault.body ??
      JSON.stringify({
        type: 'error',
        error: {
          type: fault.status === 529 ? 'overloaded_error' : 'api_error',
          message: `scripted HTTP ${fault.status}`,
        },
      }),
  );
}

function send(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
const hash = (s: string) => createHash('sha256').update(s).digest('hex');
