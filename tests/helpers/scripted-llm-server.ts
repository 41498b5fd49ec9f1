import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScriptedBatchBook, type BatchItemFault } from './scripted-batches';

/**
 * A real HTTP server speaking the OpenAI chat-completions wire format, for tests. Each request either
 * takes the next scripted fault or gets a deterministic answer: valid JSON for a json_schema request,
 * else a short text derived from a hash of the prompt.
 */
export type LlmFault =
  /** Any error status, e.g. 429 with { 'retry-after': '2' }, 500, 503, 401. */
  | { type: 'http'; status: number; headers?: Record<string, string>; body?: string }
  /** Never answer (the client times out); the socket is dropped on close(). */
  | { type: 'hang' }
  /** Close the connection without an answer. */
  | { type: 'drop' }
  /** The normal answer cut short, with finish_reason 'length'. */
  | { type: 'truncate'; keepChars?: number }
  /** A 200 whose body is not JSON. */
  | { type: 'malformedBody' }
  /** A 200 with an empty choices list. */
  | { type: 'noChoices' }
  /** A 200 whose content is not the requested JSON. */
  | { type: 'wrongContent'; content?: string }
  /** A provider-level refusal: OpenAI's `message.refusal` with null content (Anthropic: stop_reason "refusal"). */
  | { type: 'refusal'; refusal?: string };

export interface ChatRequestBody {
  model?: string;
  messages?: { role: string; content: string }[];
  max_tokens?: number;
  temperature?: number;
  seed?: number;
  response_format?: { type: string; json_schema?: { name?: string; schema?: JsonSchema; strict?: boolean } };
}

export interface RecordedRequest {
  index: number;
  body: ChatRequestBody;
  headers: http.IncomingHttpHeaders;
  at: number;
  /** The usage a normal answer reported (tokens are counted as words), for checking cost metering. */
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export type FaultScript = (LlmFault | null)[] | ((req: RecordedRequest) => LlmFault | null | undefined);

export interface ScriptedLlmServerOptions {
  /** Fixed delay before every answer. */
  latencyMs?: number;
  /** Content for a normal answer; default: schema-valid JSON or a hash-derived text. */
  respond?: (body: ChatRequestBody) => string;
  faults?: FaultScript;
}

type JsonSchema = Record<string, unknown>;

export async function startScriptedLlmServer(opts: ScriptedLlmServerOptions = {}) {
  const requests: RecordedRequest[] = [];
  let faults: FaultScript = opts.faults ?? [];
  let latencyMs = opts.latencyMs ?? 0;
  const respond = opts.respond ?? defaultContent;

  const nextFault = (rec: RecordedRequest): LlmFault | null | undefined =>
    typeof faults === 'function' ? faults(rec) : faults.shift();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void handle(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });

  // OpenAI Batch API: uploaded files, batches over them, output and error files.
  const files = new Map<string, string>();
  const batches = new ScriptedBatchBook<{ line: string; ok: boolean }>('batch_');

  function batchJson(id: string) {
    const b = batches.batches.get(id)!;
    const ended = batches.ended(b);
    return {
      id,
      object: 'batch',
      endpoint: '/v1/chat/completions',
      status: ended ? 'completed' : 'in_progress',
      output_file_id: ended ? `file-out-${id}` : null,
      error_file_id: ended ? `file-err-${id}` : null,
      request_counts: {
        total: b.outcomes.length,
        completed: ended ? b.outcomes.filter((o) => o.outcome.ok).length : 0,
        failed: 0,
      },
    };
  }

  /** Answer an OpenAI Batch API request; false when the request is not one. */
  function handleBatches(req: http.IncomingMessage, res: http.ServerResponse, raw: string): boolean {
    const path = (req.url ?? '').split('?')[0];
    const file = req.method === 'POST' && path === '/v1/files';
    const create = req.method === 'POST' && path === '/v1/batches';
    const poll = req.method === 'GET' ? /^\/v1\/batches\/([^/]+)$/.exec(path) : null;
    const content = req.method === 'GET' ? /^\/v1\/files\/file-(out|err)-([^/]+)\/content$/.exec(path) : null;
    if (file) {
      // multipart/form-data: the "file" part's body is the JSONL.
      const m = /name="file"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([\s\S]*?)\r\n--/.exec(raw);
      if (!m) {
        send(res, 400, { error: { message: 'no file part' } });
      } else {
        const id = `file-${files.size + 1}`;
        files.set(id, m[1]);
        send(res, 200, { id, object: 'file', purpose: 'batch', bytes: m[1].length });
      }
    } else if (create) {
      const { input_file_id } = JSON.parse(raw) as { input_file_id: string };
      const lines = (files.get(input_file_id) ?? '')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as { custom_id: string; body: ChatRequestBody });
      const bodies = new Map(lines.map((l) => [l.custom_id, l.body]));
      const b = batches.create(
        lines.map((l) => l.custom_id),
        (customId, fault: BatchItemFault) => {
          const body = bodies.get(customId)!;
          if (fault === 'errored' || fault === 'expired') {
            const code = fault === 'expired' ? 'batch_expired' : 'server_error';
            return {
              ok: false,
              line: JSON.stringify({
                custom_id: customId,
                response: null,
                error: { code, message: `scripted ${fault}` },
              }),
            };
          }
          const full = respond(body);
          const answer =
            fault === 'truncate'
              ? completion(body, full.slice(0, Math.floor(full.length / 2)), 'length')
              : completion(body, full, 'stop');
          return {
            ok: true,
            line: JSON.stringify({ custom_id: customId, response: { status_code: 200, body: answer }, error: null }),
          };
        },
      );
      send(res, 200, batchJson(b.id));
    } else if (poll && batches.batches.has(poll[1])) {
      const fault = batches.nextPollFault();
      if (fault?.type === 'drop') req.socket.destroy();
      else if (fault?.type === 'http') {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        res.end(JSON.stringify({ error: { message: `scripted HTTP ${fault.status}` } }));
      } else if (fault?.type !== 'hang') send(res, 200, batchJson(poll[1]));
    } else if (content && batches.batches.has(content[2])) {
      const outcomes = batches.batches.get(content[2])!.outcomes.filter((o) => o.outcome.ok === (content[1] === 'out'));
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(outcomes.map((o) => o.outcome.line).join('\n') + '\n');
    } else {
      return false;
    }
    return true;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string) {
    if (handleBatches(req, res, raw)) return;
    if (req.method === 'POST' && req.url?.endsWith('/embeddings')) return embeddings(res, raw);
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions'))
      return send(res, 404, { error: { message: `no route ${req.url}` } });
    let body: ChatRequestBody;
    try {
      body = JSON.parse(raw) as ChatRequestBody;
    } catch {
      return send(res, 400, { error: { message: 'request body is not JSON' } });
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0)
      return send(res, 400, { error: { message: 'messages is required' } });
    const rec: RecordedRequest = { index: requests.length, body, headers: req.headers, at: Date.now() };
    requests.push(rec);
    const fault = nextFault(rec);
    if (fault?.type === 'hang') return;
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    if (res.destroyed) return;
    if (!fault) {
      const answer = completion(body, respond(body), 'stop');
      rec.usage = answer.usage;
      return send(res, 200, answer);
    }
    switch (fault.type) {
      case 'http':
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        return res.end(fault.body ?? JSON.stringify({ error: { message: `scripted HTTP ${fault.status}` } }));
      case 'drop':
        return req.socket.destroy();
      case 'truncate': {
        const full = respond(body);
        return send(
          res,
          200,
          completion(body, full.slice(0, fault.keepChars ?? Math.floor(full.length / 2)), 'length'),
        );
      }
      case 'malformedBody':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"id":"cmpl-1","choices":[{"message":');
      case 'noChoices':
        return send(res, 200, { id: 'cmpl-empty', object: 'chat.completion', model: body.model, choices: [] });
      case 'wrongContent':
        return send(res, 200, completion(body, fault.content ?? 'Sure! Here is what you asked for, in prose.', 'stop'));
      case 'refusal': {
        const answer = completion(body, '', 'stop');
        const refusal = fault.refusal ?? "I'm sorry, I can't help with that.";
        return send(res, 200, {
          ...answer,
          choices: [{ index: 0, message: { role: 'assistant', content: null, refusal }, finish_reason: 'stop' }],
        });
      }
    }
  }

  /** Deterministic embeddings: word counts hashed into 32 dimensions, so case and punctuation variants embed alike. */
  function embeddings(res: http.ServerResponse, raw: string) {
    const body = JSON.parse(raw) as { model?: string; input?: string[] };
    const input = body.input ?? [];
    embeddingRequests.push({ model: body.model, input });
    const data = input.map((text, index) => {
      const v = new Array<number>(32).fill(0);
      for (const w of text.toLowerCase().match(/[a-z0-9']+/g) ?? []) v[parseInt(hash(w).slice(0, 8), 16) % 32] += 1;
      return { object: 'embedding', index, embedding: v };
    });
    send(res, 200, {
      object: 'list',
      data,
      model: body.model,
      usage: { prompt_tokens: input.reduce((n, t) => n + words(t), 0), total_tokens: 0 },
    });
  }
  const embeddingRequests: { model?: string; input: string[] }[] = [];

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    /** The OpenAI Batch API's bookkeeping: items submitted, faults to inject into polls and items. */
    batches,
    /** Paid calls: chat completions requested plus batch items. */
    calls: () => requests.length + batches.items.length,
    /** Calls to /embeddings (answered normally, never faulted), apart from chat requests. */
    embeddingRequests,
    /** Replace the fault script: a queue (null = answer normally) or a function of the request. */
    setFaults(f: FaultScript) {
      faults = f;
    },
    setLatency(ms: number) {
      latencyMs = ms;
    },
    close(): Promise<void> {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

function completion(body: ChatRequestBody, content: string, finish: 'stop' | 'length') {
  const prompt = (body.messages ?? []).map((m) => m.content).join('\n');
  return {
    id: `cmpl-${hash(prompt).slice(0, 12)}`,
    object: 'chat.completion',
    model: body.model ?? 'scripted',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish }],
    usage: {
      prompt_tokens: words(prompt),
      completion_tokens: words(content),
      total_tokens: words(prompt) + words(content),
    },
  };
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

/** Schema-valid JSON when asked for it; otherwise a short text (tagged like a document when asked). */
export function defaultContent(body: ChatRequestBody): string {
  const seed = hash(JSON.stringify(body.messages));
  const schema = body.response_format?.json_schema?.schema;
  if (schema) return JSON.stringify(sampleJson(schema, seed, 'value'));
  const text = `Scripted reply ${seed.slice(0, 8)}: a short deterministic answer about item ${seed.slice(8, 14)}.`;
  const last = body.messages?.at(-1)?.content ?? '';
  return /<content>/i.test(last)
    ? `<scratchpad>plan ${seed.slice(0, 8)}</scratchpad>\n<content>\n${text}\n</content>`
    : text;
}

/** A deterministic value that satisfies the common JSON Schema subset (strings distinct per path). */
export function sampleJson(schema: JsonSchema, seed: string, path: string): unknown {
  const pick = (n: number) => parseInt(hash(`${seed}/${path}`).slice(0, 8), 16) % n;
  if (Array.isArray(schema.enum)) return schema.enum[pick(schema.enum.length)];
  if ('const' in schema) return schema.const;
  const variants = (schema.anyOf ?? schema.oneOf) as JsonSchema[] | undefined;
  if (variants?.length) return sampleJson(variants[0], seed, path);
  const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
  const type = types.find((t) => t !== 'null') ?? types[0];
  switch (type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      return Object.fromEntries(Object.entries(props).map(([k, s]) => [k, sampleJson(s, seed, `${path}.${k}`)]));
    }
    case 'array': {
      const n = Math.min(Math.max(2, Number(schema.minItems ?? 0)), Number(schema.maxItems ?? Infinity));
      const items = (schema.items ?? {}) as JsonSchema;
      return Array.from({ length: n }, (_, i) => sampleJson(items, seed, `${path}[${i}]`));
    }
    case 'integer':
    case 'number':
      return Number(schema.minimum ?? 0) + (schema.maximum === undefined ? pick(10) : 0);
    case 'boolean':
      return pick(2) === 0;
    case 'null':
      return null;
    default: {
      const s = `${path.replace(/^.*[.]/, '').replace(/\[\d+\]$/, '')} ${hash(`${seed}/${path}`).slice(0, 8)}`;
      return s.padEnd(Number(schema.minLength ?? 0), 'x');
    }
  }
}
