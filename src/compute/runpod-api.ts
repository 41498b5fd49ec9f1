/**
 * The few calls of RunPod's REST API (https://rest.runpod.io/v1, bearer key) that the runpod backend
 * needs: create a pod, read it, list pods by name, terminate it. Errors are sorted by what to do next.
 */
export interface RunpodPod {
  id: string;
  name?: string;
  /** RUNNING (also while the container starts), EXITED or TERMINATED. */
  desiredStatus?: string;
  publicIp?: string | null;
  /** Container port -> public port, e.g. {"22": 10341}; null until the pod runs. */
  portMappings?: Record<string, number> | null;
  /** USD per hour for the whole pod; the API has sent it as a number and as a string. */
  costPerHr?: number | string;
  gpuCount?: number;
  interruptible?: boolean;
}

export interface CreatePodBody {
  name: string;
  imageName: string;
  gpuTypeIds: string[];
  gpuCount: number;
  cloudType: 'SECURE' | 'COMMUNITY';
  interruptible: boolean;
  ports: string[];
  supportPublicIp: boolean;
  containerDiskInGb: number;
  env: Record<string, string>;
}

/** Why a call failed decides what happens next. */
export type RunpodErrorKind = 'capacity' | 'auth' | 'bad-request' | 'not-found' | 'transient';

export class RunpodApiError extends Error {
  constructor(
    readonly kind: RunpodErrorKind,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'RunpodApiError';
  }
}

// RunPod's wording when no machine matches the request (seen as 400 and 500 answers).
const NO_CAPACITY =
  /no longer any instances available|no instances (are )?(currently )?available|not enough free gpus|out of capacity|insufficient capacity/i;

function classify(status: number, message: string): RunpodErrorKind {
  if (NO_CAPACITY.test(message)) return 'capacity';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 429 || status >= 500) return 'transient';
  return 'bad-request';
}

export interface RunpodApiOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs?: number;
}

export class RunpodApi {
  constructor(private readonly o: RunpodApiOptions) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.o.baseUrl.replace(/\/+$/, '')}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.o.apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      });
    } catch (e) {
      throw new RunpodApiError('transient', 0, `RunPod API ${method} ${path} failed: ${(e as Error).message}`);
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text.slice(0, 500);
      try {
        const j = JSON.parse(text) as { error?: unknown; message?: unknown };
        message = String(j.error ?? j.message ?? message);
      } catch {
        // not JSON: keep the text
      }
      throw new RunpodApiError(
        classify(res.status, message),
        res.status,
        `RunPod API ${method} ${path}: HTTP ${res.status}: ${message}`,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  createPod(body: CreatePodBody): Promise<RunpodPod> {
    return this.call('POST', '/pods', body);
  }

  getPod(id: string): Promise<RunpodPod> {
    return this.call('GET', `/pods/${encodeURIComponent(id)}`);
  }

  /** Pods with this name (the name is how a retry finds the pod an earlier attempt created). */
  async podsNamed(name: string): Promise<RunpodPod[]> {
    const pods = await this.call<RunpodPod[]>('GET', `/pods?name=${encodeURIComponent(name)}`);
    return (pods ?? []).filter((p) => p.name === name);
  }

  /** Every pod whose name starts with `prefix` (the reaper's view of msm's pods). */
  async podsWithPrefix(prefix: string): Promise<RunpodPod[]> {
    const pods = await this.call<RunpodPod[]>('GET', '/pods');
    return (pods ?? []).filter((p) => p.name?.startsWith(prefix));
  }

  /** Terminate: the pod and its disk are gone and billing stops. A pod already gone is not an error. */
  async terminatePod(id: string): Promise<void> {
    try {
      await this.call('DELETE', `/pods/${encodeURIComponent(id)}`);
    } catch (e) {
      if (e instanceof RunpodApiError && e.kind === 'not-found') return;
      throw e;
    }
  }
}

/** The pod's price per hour as a number, when the API reported one. */
export function podCostPerHour(pod: RunpodPod): number | null {
  const c = typeof pod.costPerHr === 'string' ? Number(pod.costPerHr) : pod.costPerHr;
  return c !== undefined && Number.isFinite(c) && c > 0 ? c : null;
}
