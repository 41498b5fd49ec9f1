/**
 * The few calls of RunPod's REST API v2 (base https://api.runpod.io/v2, bearer key) that the runpod backend
 * needs: read the GPU catalog's stock, create a pod, read it, list pods, terminate it. Shapes as documented
 * in RunPod's OpenAPI document (https://docs.runpod.io/api-reference-v2/overview, `/v2/openapi.json`).
 * Errors (RFC 9457 problem objects) are sorted by what to do next.
 */

/** Lifecycle of a v2 pod (PodStatus). */
export type RunpodPodStatus = 'PROVISIONING' | 'STARTING' | 'RUNNING' | 'EXITED' | 'ERROR' | 'TERMINATED';

export interface RunpodSshEndpoint {
  host: string;
  port: number;
  username?: string;
  command?: string;
}

export interface RunpodPod {
  id: string;
  name?: string;
  status?: RunpodPodStatus | string;
  image?: string;
  /** Container disk in GB. */
  disk?: number;
  gpu?: { id: string; count?: number };
  cloud?: 'SECURE' | 'COMMUNITY';
  dataCenterId?: string | null;
  /** USD per hour for the whole pod (0.0 when EXITED or TERMINATED). */
  cost?: number;
  /** `direct` is the pod's published 22/tcp; null until the running pod has a public port for it. */
  ssh?: { proxy?: RunpodSshEndpoint | null; direct?: RunpodSshEndpoint | null } | null;
  /** Live port mappings; null unless RUNNING. */
  runtime?: {
    uptime?: number;
    ports?: Array<{ private: number; public: number | null; type?: string; ip: string | null }>;
  } | null;
  actions?: string[];
  createdAt?: string;
  startedAt?: string | null;
}

/** POST /v2/pods body (CreatePodRequest): only fields msm sets; v2 rejects any field it does not know. */
export interface CreatePodBody {
  name: string;
  image: string;
  gpu: { id: string; count: number };
  cloud: 'SECURE' | 'COMMUNITY';
  /** Container disk in GB. */
  disk: number;
  ports: string[];
  env: Record<string, string>;
}

export type AvailabilityLevel = 'NONE' | 'LOW' | 'MEDIUM' | 'HIGH';

/** One entry of GET /v2/catalog/gpus (GpuType), with availability when asked for it. */
export interface RunpodGpuType {
  id: string;
  name?: string;
  memory?: number;
  secure?: boolean;
  community?: boolean;
  price?: { secure?: number; community?: number };
  maxCount?: { secure?: number; community?: number };
  availability?: AvailabilityLevel;
  dataCenters?: Array<{ id: string; name?: string; availability: AvailabilityLevel }>;
}

/** Why a call failed decides what happens next. */
export type RunpodErrorKind = 'capacity' | 'auth' | 'billing' | 'bad-request' | 'not-found' | 'transient';

export class RunpodApiError extends Error {
  constructor(
    readonly kind: RunpodErrorKind,
    readonly status: number,
    message: string,
    /** Retry-After of a 429, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RunpodApiError';
  }
}

/**
 * RunPod's wording when no machine matches the request: v2 answers a create it cannot place with 400 and only a
 * human-readable `detail` (its docs say capacity has no machine-readable code yet).
 */
const NO_CAPACITY =
  /no longer any instances available|no instances (are )?(currently )?available|not enough free gpus|out of capacity|insufficient capacity/i;

export function classifyRunpodError(status: number, detail: string): RunpodErrorKind {
  if (NO_CAPACITY.test(detail)) return 'capacity';
  if (status === 401 || status === 403) return 'auth';
  if (status === 402) return 'billing';
  if (status === 404) return 'not-found';
  if (status === 429 || status >= 500 || status === 0) return 'transient';
  return 'bad-request';
}

/** A v2 problem object (RFC 9457): title, status, detail, and for a 422 each violation in `errors`. */
interface Problem {
  title?: unknown;
  detail?: unknown;
  errors?: unknown;
  error?: unknown;
  message?: unknown;
}

/** The problem's words, for the message a person reads. */
export function problemText(text: string): string {
  let p: Problem;
  try {
    p = JSON.parse(text) as Problem;
  } catch {
    return text.slice(0, 500);
  }
  if (p.detail === undefined && p.title === undefined && p.error !== undefined)
    // v2 never answers `{error}`: that is the retired v1 API speaking.
    return `${String(p.error)} (this is a REST v1 answer: set compute.baseUrl to RunPod's v2 API, https://api.runpod.io/v2)`;
  const head = [p.title, p.detail ?? p.message].filter((x) => x !== undefined && x !== '').map(String);
  const errors = Array.isArray(p.errors) && p.errors.length ? ` [${p.errors.map(String).join('; ')}]` : '';
  return `${head.join(': ') || text.slice(0, 500)}${errors}`;
}

export interface RunpodApiOptions {
  /** e.g. https://api.runpod.io/v2 (paths below are relative to it: /pods, /catalog/gpus). */
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
}

/** Most pages msm follows in one listing: a guard against a server that links a page to itself. */
const MAX_LIST_PAGES = 1000;

/** The next page of a listing, from an RFC 8288 `Link: <url>; rel="next"` header. */
function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;(.*)/.exec(part.trim());
    if (m && /\brel="?next"?/i.test(m[2])) return m[1];
  }
  return undefined;
}

export class RunpodApi {
  private readonly base: string;
  constructor(private readonly o: RunpodApiOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '');
  }

  private async request(method: string, url: string, body?: unknown): Promise<{ res: Response; text: string }> {
    const what = `RunPod API ${method} ${url.slice(this.base.length) || url}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.o.apiKey}`,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      });
    } catch (e) {
      throw new RunpodApiError('transient', 0, `${what} failed: ${(e as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      const detail = problemText(text);
      const retryAfter = Number(res.headers.get('retry-after'));
      throw new RunpodApiError(
        classifyRunpodError(res.status, detail),
        res.status,
        `${what}: HTTP ${res.status}: ${detail}`,
        Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
      );
    }
    return { res, text };
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { text } = await this.request(method, `${this.base}${path}`, body);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** GPU types with pod stock for `count` GPUs in `cloud` (GET /v2/catalog/gpus?include=AVAILABILITY&product=POD). */
  async gpuCatalog(q: { count: number; cloud: 'SECURE' | 'COMMUNITY' }): Promise<RunpodGpuType[]> {
    const query = new URLSearchParams({
      include: 'AVAILABILITY',
      product: 'POD',
      count: String(q.count),
      cloud: q.cloud,
    });
    const r = await this.call<{ gpus?: RunpodGpuType[] }>('GET', `/catalog/gpus?${query.toString()}`);
    return r?.gpus ?? [];
  }

  createPod(body: CreatePodBody): Promise<RunpodPod> {
    return this.call('POST', '/pods', body);
  }

  getPod(id: string): Promise<RunpodPod> {
    return this.call('GET', `/pods/${encodeURIComponent(id)}`);
  }

  /**
   * Every pod of the account (GET /v2/pods answers `{"pods": [...]}`; it takes no filters, so callers filter).
   * RunPod documents one answer with all pods; should a page ever link a next one (RFC 8288 `Link: rel="next"`,
   * same origin only: the bearer key goes nowhere else) the walk follows it.
   */
  async listPods(): Promise<RunpodPod[]> {
    const pods: RunpodPod[] = [];
    const origin = new URL(this.base).origin;
    let url: string | undefined = `${this.base}/pods`;
    const seen = new Set<string>();
    while (url && !seen.has(url) && seen.size < MAX_LIST_PAGES) {
      seen.add(url);
      const { res, text } = await this.request('GET', url);
      const page = (text ? JSON.parse(text) : {}) as { pods?: unknown };
      if (!Array.isArray(page.pods))
        throw new RunpodApiError('bad-request', res.status, `RunPod API GET /pods: no "pods" list in the answer`);
      pods.push(...(page.pods as RunpodPod[]));
      const next = nextLink(res.headers.get('link'));
      url = next === undefined ? undefined : new URL(next, url).href;
      if (url && new URL(url).origin !== origin) url = undefined;
    }
    return pods;
  }

  /** Pods with this name (the name is how a retry finds the pod an earlier attempt created). */
  async podsNamed(name: string): Promise<RunpodPod[]> {
    return (await this.listPods()).filter((p) => p.name === name);
  }

  /** Pods whose name starts with `prefix` (every page), e.g. every `msm-` pod for a reaper. */
  async listPodsWithPrefix(prefix: string): Promise<RunpodPod[]> {
    return (await this.listPods()).filter((p) => typeof p.name === 'string' && p.name.startsWith(prefix));
  }

  /** Terminate (DELETE /v2/pods/{id}, 204): the pod and its disk are gone and billing stops. Gone already is fine. */
  async terminatePod(id: string): Promise<void> {
    try {
      await this.call('DELETE', `/pods/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof RunpodApiError && e.kind === 'not-found') return;
      throw e;
    }
  }
}

/** The pod's price per hour, when the API reported one (v2 reports 0.0 for a pod that is not running). */
export function podCostPerHour(pod: RunpodPod): number | null {
  const c = pod.cost;
  return typeof c === 'number' && Number.isFinite(c) && c > 0 ? c : null;
}

/** Where to reach the pod's sshd: `ssh.direct`, else the runtime mapping of private port 22. */
export function podSshAddress(pod: RunpodPod): { host: string; port: number } | undefined {
  const direct = pod.ssh?.direct;
  if (direct?.host && direct.port) return { host: direct.host, port: direct.port };
  const p22 = pod.runtime?.ports?.find((p) => p.private === 22 && p.public && p.ip);
  return p22 ? { host: p22.ip!, port: p22.public! } : undefined;
}
