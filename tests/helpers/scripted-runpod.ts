import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A scripted RunPod REST API (v1 shapes: POST/GET /pods, GET/DELETE /pods/:id, bearer key) whose pods are
 * a real sshd on loopback: every pod answers at 127.0.0.1:<sshPort>. Tests script the provider's faults:
 * no capacity on create, a pod reclaimed (spot) mid-job.
 */
export interface ScriptedPod {
  id: string;
  name: string;
  body: Record<string, unknown>;
  desiredStatus: 'RUNNING' | 'EXITED' | 'TERMINATED';
  createdAt: number;
  /** GETs left before the pod has its public IP and port (the container starting). */
  bootPolls: number;
  deletedAt?: number;
}

export interface ApiCall {
  method: string;
  path: string;
  status: number;
  at: number;
}

export interface ScriptedRunpod {
  baseUrl: string;
  apiKey: string;
  pods: ScriptedPod[];
  calls: ApiCall[];
  /** The next `n` creates fail with RunPod's no-capacity answer. */
  failCreates(n: number): void;
  /** The provider takes the pod back (spot reclaim): it reports TERMINATED from now on. */
  reclaim(podId: string): void;
  /** What GET reports as the pods' cost per hour from now on ('0.00': no price). */
  setCostPerHr(v: string | number): void;
  /** Pods created and not deleted. */
  live(): ScriptedPod[];
  close(): Promise<void>;
}

export const NO_CAPACITY_MESSAGE =
  'There are no longer any instances available with the requested specifications. Please refresh and try again.';

export async function startScriptedRunpod(opts: {
  sshPort: number;
  costPerHr?: string | number;
  bootPolls?: number;
}): Promise<ScriptedRunpod> {
  const apiKey = `rp-test-${Math.random().toString(36).slice(2)}`;
  const pods: ScriptedPod[] = [];
  const calls: ApiCall[] = [];
  let capacityFailures = 0;
  let costPerHr = opts.costPerHr ?? '0.00';
  let next = 1;

  const view = (p: ScriptedPod) => {
    const booted = p.bootPolls <= 0 && p.desiredStatus === 'RUNNING';
    return {
      id: p.id,
      name: p.name,
      image: p.body.imageName,
      desiredStatus: p.desiredStatus,
      gpuCount: p.body.gpuCount,
      interruptible: p.body.interruptible,
      costPerHr,
      publicIp: booted ? '127.0.0.1' : null,
      portMappings: booted ? { '22': opts.sshPort } : null,
      ports: p.body.ports,
    };
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const send = (status: number, body?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === undefined ? '' : JSON.stringify(body));
      return status;
    };
    if (req.headers.authorization !== `Bearer ${apiKey}`) return send(401, { error: 'invalid api key' });
    const url = new URL(req.url ?? '/', 'http://x');
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const one = /^\/pods\/([^/]+)$/.exec(url.pathname);
    const pod = one ? pods.find((p) => p.id === decodeURIComponent(one[1]) && p.deletedAt === undefined) : undefined;

    if (req.method === 'POST' && url.pathname === '/pods') {
      const body = JSON.parse(raw) as Record<string, unknown>;
      const missing = ['name', 'imageName', 'gpuTypeIds', 'gpuCount', 'cloudType', 'ports'].filter(
        (k) => body[k] === undefined,
      );
      if (missing.length) return send(400, { error: `missing ${missing.join(', ')}` });
      if (capacityFailures > 0) {
        capacityFailures--;
        return send(500, { error: NO_CAPACITY_MESSAGE });
      }
      const p: ScriptedPod = {
        id: `pod${next++}`,
        name: String(body.name),
        body,
        desiredStatus: 'RUNNING',
        createdAt: Date.now(),
        bootPolls: opts.bootPolls ?? 1,
      };
      pods.push(p);
      return send(201, view(p));
    }
    if (req.method === 'GET' && url.pathname === '/pods') {
      const name = url.searchParams.get('name');
      return send(200, pods.filter((p) => p.deletedAt === undefined && (name === null || p.name === name)).map(view));
    }
    if (one && !pod) return send(404, { error: 'pod not found' });
    if (req.method === 'GET' && pod) {
      pod.bootPolls--;
      return send(200, view(pod));
    }
    if (req.method === 'DELETE' && pod) {
      pod.deletedAt = Date.now();
      return send(200);
    }
    return send(404, { error: `no route ${req.method} ${url.pathname}` });
  }

  const server = createServer((req, res) => {
    handle(req, res)
      .then((status) => calls.push({ method: req.method ?? '?', path: req.url ?? '?', status, at: Date.now() }))
      .catch((e: unknown) => {
        res.writeHead(500);
        res.end(String(e));
      });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey,
    pods,
    calls,
    failCreates: (n) => void (capacityFailures = n),
    reclaim(podId) {
      const p = pods.find((x) => x.id === podId);
      if (!p) throw new Error(`no pod ${podId}`);
      p.desiredStatus = 'TERMINATED';
    },
    setCostPerHr: (v) => void (costPerHr = v),
    live: () => pods.filter((p) => p.deletedAt === undefined),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
