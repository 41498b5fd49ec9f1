import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

/**
 * Temporal's remote codec protocol over HTTP, so the Web UI can show payloads encrypted by msm's codec:
 * POST .../encode and .../decode with {"payloads": [...]} (Payloads in protobuf JSON: metadata values and
 * data in base64), answered in the same form. Only the last part of the path counts, so it can be mounted
 * under any prefix (e.g. one per namespace). Browsers get CORS answers for the allowed origins only; a
 * request from another origin is refused. Whoever reaches this server can decrypt, so it listens on
 * 127.0.0.1 unless told otherwise (docs/security.md).
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  port: number;
  host?: string;
  /** Web UI origins allowed to call it from a browser, e.g. http://localhost:8233. */
  origins: readonly string[];
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

export interface RunningCodecServer {
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_UI_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parsePayloads(body: string): Payload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'the body is not JSON; send {"payloads": [...]}');
  }
  const payloads = (parsed as { payloads?: unknown })?.payloads;
  if (!Array.isArray(payloads)) throw new HttpError(400, 'send {"payloads": [...]} (Payloads in protobuf JSON)');
  return (payloads as JsonPayload[]).map(fromJson);
}

function corsHeaders(origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'POST, OPTIONS',
    'access-control-allow-headers': 'content-type, x-namespace, authorization',
    'access-control-allow-credentials': 'true',
    vary: 'origin',
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, o: CodecServerOptions): Promise<void> {
  const origin = req.headers.origin;
  if (origin !== undefined && !o.origins.includes(origin))
    throw new HttpError(403, `origin ${origin} is not allowed; start the codec server with --origin ${origin}`);
  const cors = origin ? corsHeaders(origin) : {};
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors).end();
    return;
  }
  const op = /\/(encode|decode)\/?$/.exec(new URL(req.url ?? '/', 'http://x').pathname)?.[1];
  if (req.method !== 'POST' || !op) throw new HttpError(404, 'POST .../encode or .../decode');
  const payloads = parsePayloads(await readBody(req, o.maxBodyBytes ?? 64 * 1024 * 1024));
  let out: Payload[];
  try {
    out = op === 'encode' ? await o.codec.encode(payloads) : await o.codec.decode(payloads);
  } catch (e) {
    throw new HttpError(400, `cannot ${op}: ${(e as Error).message}`);
  }
  res
    .writeHead(200, { ...cors, 'content-type': 'application/json' })
    .end(JSON.stringify({ payloads: out.map(toJson) }));
}

export async function startCodecServer(o: CodecServerOptions): Promise<RunningCodecServer> {
  const server = createServer((req, res) => {
    handle(req, res, o).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(e instanceof Error ? e.message : String(e));
    });
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
