import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scripted RunPod REST API v2 (https://docs.runpod.io/api-reference-v2/overview) whose pods are a real sshd on
 * loopback: every pod answers at 127.0.0.1:<sshPort>. It speaks v2 as documented: `/v2/pods` (create 201, list
 * `{"pods": [...]}`), `/v2/pods/{id}` (get, delete 204), `/v2/catalog/gpus?include=AVAILABILITY&product=POD`,
 * RFC 9457 problem answers, a 422 naming each unknown or missing request field. A pod walks
 * PROVISIONING → STARTING → RUNNING, one step per GET. Lists can be split into pages (an RFC 8288
 * `Link: rel="next"` header), should RunPod ever page them. Tests script the provider's faults: no capacity on
 * create, no stock in the catalog, a pod that goes to ERROR, a pod reclaimed mid-job.
 */
export interface ScriptedPod {
  id: string;
  name: string;
  body: Record<string, unknown>;
  status: 'PROVISIONING' | 'STARTING' | 'RUNNING' | 'EXITED' | 'ERROR' | 'TERMINATED';
  createdAt: number;
  /** GETs left in the current starting state before the next one. */
  stepPolls: number;
  /** The pod goes to ERROR instead of RUNNING (a container that cannot start). */
  failsToStart?: boolean;
  deletedAt?: number;
}

export interface ApiCall {
  method: string;
  path: string;
  status: number;
  at: number;
  body?: unknown;
}

export interface CatalogGpu {
  id: string;
  name: string;
  memory: number;
  secure: boolean;
  community: boolean;
  price: { secure: number; community: number };
  maxCount: { secure: number; community: number };
  availability: 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH';
}

export interface ScriptedRunpod {
  baseUrl: string;
  apiKey: string;
  pods: ScriptedPod[];
  calls: ApiCall[];
  /** The next `n` creates fail with RunPod's no-capacity answer (400, a human-readable detail). */
  failCreates(n: number): void;
  /** The catalog's stock level of a GPU type from now on. */
  setStock(gpuId: string, availability: CatalogGpu['availability']): void;
  /** The next `n` pods created go to ERROR while starting. */
  failStarts(n: number): void;
  /** The provider takes the pod back: it reports this status from now on (TERMINATED by default). */
  reclaim(podId: string, status?: 'EXITED' | 'TERMINATED' | 'ERROR'): void;
  /** What GET reports as the pods' cost per hour from now on (0: no price). */
  setCostPerHr(v: number): void;
  /** Pods per page of GET /v2/pods (0: one answer with all, as RunPod documents it). */
  setPageSize(n: number): void;
  /** Pods created and not deleted. */
  live(): ScriptedPod[];
  close(): Promise<void>;
}

export const NO_CAPACITY_MESSAGE =
  'There are no longer any instances available with the requested specifications. Please refresh and try again.';

/** The fields of CreatePodRequest (and of its nested gpu), per RunPod's v2 OpenAPI document. */
const CREATE_FIELDS = new Set([
  'name',
  'image',
  'args',
  'disk',
  'env',
  'ports',
  'registry',
  'cloud',
  'cpu',
  'gpu',
  'dataCenterIds',
  'globalNetworking',
  'mounts',
  'startJupyter',
  'startSsh',
  'templateId',
]);
const GPU_FIELDS = new Set(['id', 'count', 'allowedCudaVersions', 'minCudaVersion']);

export const DEFAULT_CATALOG: CatalogGpu[] = [
  ['NVIDIA H100 80GB HBM3', 'H100 SXM', 80, 2.69, 2.39, 8],
  ['NVIDIA A40', 'A40', 48, 0.4, 0.35, 8],
  ['NVIDIA GeForce RTX 4090', 'RTX 4090', 24, 0.44, 0.31, 8],
].map(([id, name, memory, secure, community, max]) => ({
  id: id as string,
  name: name as string,
  memory: memory as number,
  secure: true,
  community: true,
  price: { secure: secure as number, community: community as number },
  maxCount: { secure: max as number, community: max as number },
  availability: 'HIGH',
}));

/** v2's 422 for a body that does not match the contract: one line per unknown or missing field. */
function violations(body: Record<string, unknown>): string[] {
  const out: string[] = [];
  const unknown = Object.keys(body).filter((k) => !CREATE_FIELDS.has(k));
  if (unknown.length) out.push(`$: additional properties ${unknown.map((k) => `'${k}'`).join(', ')} not allowed`);
  if (body.name === undefined) out.push("$: missing property 'name'");
  if (body.image === undefined && body.templateId === undefined) out.push("$: missing property 'image'");
  if (body.gpu !== undefined) {
    const gpu = body.gpu as Record<string, unknown>;
    const extra = Object.keys(gpu).filter((k) => !GPU_FIELDS.has(k));
    if (extra.length) out.push(`$.gpu: additional properties ${extra.map((k) => `'${k}'`).join(', ')} not allowed`);
    if (gpu.id === undefined) out.push("$.gpu: missing property 'id'");
  }
  if (body.cloud !== undefined && body.cloud !== 'SECURE' && body.cloud !== 'COMMUNITY')
    out.push("$.cloud: value must be one of 'SECURE', 'COMMUNITY'");
  return out;
}

export async function startScriptedRunpod(opts: {
  sshPort: number;
  costPerHr?: number;
  /** GETs a pod stays in each of PROVISIONING and STARTING. */
  stepPolls?: number;
}): Promise<ScriptedRunpod> {
  const apiKey = `rp-test-${Math.random().toString(36).slice(2)}`;
  const pods: ScriptedPod[] = [];
  const calls: ApiCall[] = [];
  const catalog = DEFAULT_CATALOG.map((g) => ({ ...g }));
  let capacityFailures = 0;
  let startFailures = 0;
  let costPerHr = opts.costPerHr ?? 0;
  let pageSize = 0;
  let next = 1;

  const view = (p: ScriptedPod) => {
    const running = p.status === 'RUNNING';
    const b = p.body;
    const gpu = b.gpu as { id: string; count?: number };
    return {
      id: p.id,
      name: p.name,
      image: b.image,
      args: '',
      disk: b.disk ?? 20,
      ports: b.ports ?? [],
      env: b.env ?? {},
      registry: null,
      status: p.status,
      actions: running ? ['stop', 'restart', 'terminate'] : ['terminate'],
      mounts: {},
      gpu: { id: gpu.id, count: gpu.count ?? 1 },
      cloud: b.cloud ?? 'SECURE',
      dataCenterId: 'US-KS-2',
      cudaVersion: '12.8',
      ssh: {
        proxy: null,
        direct: running
          ? {
              host: '127.0.0.1',
              port: opts.sshPort,
              username: 'root',
              command: `ssh root@127.0.0.1 -p ${opts.sshPort}`,
            }
          : null,
      },
      template: null,
      cost: p.status === 'EXITED' || p.status === 'TERMINATED' ? 0 : costPerHr,
      locked: false,
      globalNetworking: { enabled: false },
      runtime: running
        ? { uptime: 1, ports: [{ private: 22, public: opts.sshPort, type: 'tcp', ip: '127.0.0.1' }] }
        : null,
      createdAt: new Date(p.createdAt).toISOString(),
      startedAt: running ? new Date(p.createdAt).toISOString() : null,
    };
  };

  /** One GET moves a starting pod on: PROVISIONING → STARTING → RUNNING (or ERROR). */
  const step = (p: ScriptedPod) => {
    if (p.status !== 'PROVISIONING' && p.status !== 'STARTING') return;
    if (--p.stepPolls > 0) return;
    p.stepPolls = opts.stepPolls ?? 1;
    p.status = p.status === 'PROVISIONING' ? 'STARTING' : p.failsToStart ? 'ERROR' : 'RUNNING';
  };

  async function handle(req: IncomingMessage, res: ServerResponse, call: ApiCall): Promise<number> {
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      const type = status >= 400 ? 'application/problem+json' : 'application/json';
      res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': type }), ...headers });
      res.end(body === undefined ? '' : JSON.stringify(body));
      return status;
    };
    const problem = (status: number, title: string, detail: string, errors?: string[]) =>
      send(status, { title, status, detail, ...(errors ? { errors } : {}) });
    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return problem(401, 'Unauthorized', req.headers.authorization ? 'invalid api key' : 'missing bearer token');
    const url = new URL(req.url ?? '/', 'http://x');
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const one = /^\/v2\/pods\/([^/]+)$/.exec(url.pathname);
    const pod = one ? pods.find((p) => p.id === decodeURIComponent(one[1]) && p.deletedAt === undefined) : undefined;

    if (req.method === 'GET' && url.pathname === '/v2/catalog/gpus') {
      const include = url.searchParams.get('include');
      const product = url.searchParams.get('product');
      if ((include === 'AVAILABILITY') !== (product !== null))
        return problem(400, 'Bad Request', 'product is required with include=AVAILABILITY, and valid only with it');
      return send(200, {
        gpus: catalog.map(({ availability, ...g }) => ({
          ...g,
          pool: null,
          manufacturer: 'NVIDIA',
          ...(include ? { availability } : {}),
          ...(include && availability !== 'NONE'
            ? { dataCenters: [{ id: 'US-KS-2', name: 'US Kansas 2', availability }] }
            : {}),
        })),
      });
    }
    if (req.method === 'POST' && url.pathname === '/v2/pods') {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return problem(400, 'Bad Request', 'request body is not JSON');
      }
      call.body = body;
      const bad = violations(body);
      if (bad.length) return problem(422, 'Unprocessable Entity', 'Request validation failed.', bad);
      if (capacityFailures > 0) {
        capacityFailures--;
        return problem(400, 'Bad Request', NO_CAPACITY_MESSAGE);
      }
      const p: ScriptedPod = {
        id: `pod${next++}`,
        name: String(body.name),
        body,
        status: 'PROVISIONING',
        createdAt: Date.now(),
        stepPolls: opts.stepPolls ?? 1,
        failsToStart: startFailures > 0,
      };
      if (startFailures > 0) startFailures--;
      pods.push(p);
      return send(201, view(p));
    }
    if (req.method === 'GET' && url.pathname === '/v2/pods') {
      const all = pods.filter((p) => p.deletedAt === undefined).map(view);
      if (pageSize <= 0) return send(200, { pods: all });
      const from = Number(url.searchParams.get('page') ?? '0');
      const more = from + pageSize < all.length;
      const link: Record<string, string> = more ? { link: `</v2/pods?page=${from + pageSize}>; rel="next"` } : {};
      return send(200, { pods: all.slice(from, from + pageSize) }, link);
    }
    if (one && !pod) return problem(404, 'Not Found', 'pod not found');
    if (req.method === 'GET' && pod) {
      step(pod);
      return send(200, view(pod));
    }
    if (req.method === 'DELETE' && pod) {
      pod.deletedAt = Date.now();
      pod.status = 'TERMINATED';
      return send(204);
    }
    return problem(404, 'Not Found', `no route ${req.method} ${url.pathname}`);
  }

  const server = createServer((req, res) => {
    const call: ApiCall = { method: req.method ?? '?', path: req.url ?? '?', status: 0, at: Date.now() };
    handle(req, res, call)
      .then((status) => calls.push({ ...call, status, at: Date.now() }))
      .catch((e: unknown) => {
        res.writeHead(500, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ title: 'Internal Server Error', status: 500, detail: String(e) }));
      });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v2`,
    apiKey,
    pods,
    calls,
    failCreates: (n) => void (capacityFailures = n),
    setStock(gpuId, availability) {
      const g = catalog.find((x) => x.id === gpuId);
      if (!g) throw new Error(`no GPU type ${gpuId} in the scripted catalog`);
      g.availability = availability;
    },
    failStarts: (n) => void (startFailures = n),
    reclaim(podId, status = 'TERMINATED') {
      const p = pods.find((x) => x.id === podId);
      if (!p) throw new Error(`no pod ${podId}`);
      p.status = status;
    },
    setCostPerHr: (v) => void (costPerHr = v),
    setPageSize: (n) => void (pageSize = n),
    live: () => pods.filter((p) => p.deletedAt === undefined),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
