import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ComputeCapacityError, ComputeConfigError } from '../../src/compute/backend';
import {
  createPodBody,
  createRunpodBackend,
  podDiskGb,
  selfRemoval,
  type RunpodBackendOptions,
} from '../../src/compute/runpod';
import { podCostPerHour, podSshAddress, RunpodApi, RunpodApiError } from '../../src/compute/runpod-api';
import { parseExperiment } from '../../src/config/experiment-schema';
import { diskNeedsOf, estimateJobDiskGb } from '../../src/plan/disk';
import { formatPlan } from '../../src/plan/plan';
import { planFromDisk } from '../../src/plan/plan-inputs';
import { demoExperiment } from '../helpers/demo-experiment';
import { KNOWN_MODELS } from '../../src/plan/models';
import type { TrainerJobManifest } from '../../src/training/job';
import { NO_CAPACITY_MESSAGE, startScriptedRunpod, type ScriptedRunpod } from '../helpers/scripted-runpod';

/**
 * RunPod REST v2 contract: what our client sends is checked against RunPod's documented example requests (on
 * the scripted v2 server, which rejects what v2 rejects), and RunPod's documented example responses are fed to
 * our client. The examples are in tests/fixtures/runpod-v2/, each with the page it came from.
 */
const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'runpod-v2', `${name}.json`), 'utf8')) as {
    source: string;
    request: { method: string; path: string; body?: Record<string, unknown>; query?: Record<string, string> };
    response: { status: number; body?: unknown };
  };

/** A server that answers every request with one documented response, recording what it was asked. */
async function answering(status: number, body?: unknown, headers: Record<string, string> = {}) {
  const seen: Array<{ method: string; url: string; auth?: string }> = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization });
    req.resume();
    res.writeHead(status, {
      'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
      ...headers,
    });
    res.end(body === undefined ? '' : JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2`;
  const api = new RunpodApi({ baseUrl, apiKey: 'k' });
  return { api, baseUrl, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let fake: ScriptedRunpod;
let api: RunpodApi;
let keys: string;

beforeAll(async () => {
  fake = await startScriptedRunpod({ sshPort: 1 });
  api = new RunpodApi({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });
  keys = mkdtempSync(path.join(os.tmpdir(), 'msm-runpod-contract-'));
  writeFileSync(path.join(keys, 'id.pub'), 'ssh-ed25519 AAAAC3NzaTEST test@msm\n');
});
afterAll(async () => {
  await fake?.close();
  rmSync(keys, { recursive: true, force: true });
});
afterEach(() => {
  fake.setPageSize(0);
  fake.failStarts(0);
  fake.failCreates(0);
});

describe('RunPod REST v2 contract (documented examples ↔ our client ↔ the scripted v2 server)', () => {
  it('create: our body has the documented shape, is accepted by name, and the documented 201 reads back', async () => {
    const doc = fixture('create-pod');
    expect(doc.request).toMatchObject({ method: 'POST', path: '/v2/pods' });
    const ours = createPodBody(
      { image: String(doc.request.body!.image), gpuType: 'NVIDIA GeForce RTX 4090', gpuCount: 1, cloudType: 'SECURE' },
      String(doc.request.body!.name),
      50,
      'ssh-ed25519 AAAA',
    );
    // Every documented field is sent with the documented value and type; ours adds only documented fields.
    expect(ours).toMatchObject(doc.request.body!);
    const created = await api.createPod(ours);
    expect(created.status).toBe('PROVISIONING');
    const post = fake.calls.find((c) => c.method === 'POST' && c.status === 201)!;
    expect(post.path).toBe(doc.request.path);
    expect(post.body).toEqual(ours);

    const served = await answering(doc.response.status, doc.response.body);
    try {
      const pod = await served.api.createPod(ours);
      expect(served.seen[0]).toMatchObject({ method: 'POST', url: '/v2/pods', auth: 'Bearer k' });
      // Provisioning is asynchronous: the documented 201 is a pod not yet reachable (no direct ssh, empty runtime).
      expect(pod.id).toBe('7h9k2m4n6p');
      expect(pod.status).toBe('PROVISIONING');
      expect(podCostPerHour(pod)).toBe(0.44);
      expect(podSshAddress(pod)).toBeUndefined();
    } finally {
      await served.close();
    }
  });

  it('create: a field v2 does not know is refused by name (422), not retried, never a pod', async () => {
    const before = fake.pods.length;
    const v1Style = {
      ...createPodBody({ image: 'img', gpuType: 'NVIDIA A40', gpuCount: 1, cloudType: 'SECURE' }, 'x', 20, 'k'),
      interruptible: true,
    };
    const err = await api.createPod(v1Style as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunpodApiError);
    expect(err).toMatchObject({ kind: 'bad-request', status: 422 });
    expect((err as Error).message).toContain("additional properties 'interruptible' not allowed");
    expect(fake.pods.length).toBe(before);
  });

  it('get: a pod walks PROVISIONING → STARTING → RUNNING, sshd published only when RUNNING; the documented 200 reads back', async () => {
    const p = await api.createPod(
      createPodBody({ image: 'img', gpuType: 'NVIDIA A40', gpuCount: 1, cloudType: 'SECURE' }, 'msm-walk', 20, 'k'),
    );
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const pod = await api.getPod(p.id);
      seen.push([pod.status, podSshAddress(pod) !== undefined]);
    }
    expect(seen).toEqual([
      ['STARTING', false],
      ['RUNNING', true],
      ['RUNNING', true],
    ]);
    expect(fake.calls.at(-1)?.path).toBe(`/v2/pods/${p.id}`);

    const doc = fixture('get-pod');
    const served = await answering(doc.response.status, doc.response.body);
    try {
      const pod = await served.api.getPod('7h9k2m4n6p');
      expect(served.seen[0].url).toBe(doc.request.path.replace('{id}', '7h9k2m4n6p'));
      expect(pod).toMatchObject({ status: 'RUNNING', gpu: { id: 'NVIDIA GeForce RTX 4090', count: 1 }, disk: 50 });
      expect(podSshAddress(pod)).toEqual({ host: '195.26.233.3', port: 34446 });
    } finally {
      await served.close();
    }
  });

  it('list: the documented {"pods": [...]} reads back; every page is walked; names are filtered here', async () => {
    const doc = fixture('list-pods');
    const served = await answering(doc.response.status, doc.response.body);
    try {
      const pods = await served.api.listPods();
      expect(served.seen.map((s) => s.url)).toEqual([doc.request.path]);
      expect(pods.map((p) => p.name)).toEqual(['pytorch-training']);
      expect(await served.api.podsNamed('pytorch-training')).toHaveLength(1);
      expect(await served.api.listPodsWithPrefix('msm-')).toEqual([]);
    } finally {
      await served.close();
    }

    for (const name of ['msm-a', 'msm-b', 'other', 'msm-c', 'msm-a'])
      await api.createPod(
        createPodBody({ image: 'img', gpuType: 'NVIDIA A40', gpuCount: 1, cloudType: 'SECURE' }, name, 20, 'k'),
      );
    const all = (await api.listPods()).length;
    fake.setPageSize(2);
    const listedFrom = fake.calls.length;
    const paged = await api.listPods();
    expect(paged).toHaveLength(all);
    expect(new Set(paged.map((p) => p.id)).size).toBe(all);
    expect(fake.calls.slice(listedFrom).filter((c) => c.path.startsWith('/v2/pods')).length).toBe(Math.ceil(all / 2));
    expect((await api.podsNamed('msm-a')).map((p) => p.name)).toEqual(['msm-a', 'msm-a']);
    const prefixed = await api.listPodsWithPrefix('msm-');
    expect(prefixed.every((p) => p.name!.startsWith('msm-'))).toBe(true);
    expect(prefixed.map((p) => p.name)).toEqual(expect.arrayContaining(['msm-a', 'msm-b', 'msm-c', 'msm-walk']));
  });

  it('list: a next link to another host is not followed (the bearer key stays with RunPod)', async () => {
    const served = await answering(
      200,
      { pods: [{ id: 'p1', name: 'msm-x' }] },
      { link: '<http://198.51.100.1/v2/pods?page=2>; rel="next"' },
    );
    try {
      expect(await served.api.listPods()).toHaveLength(1);
      expect(served.seen).toHaveLength(1);
    } finally {
      await served.close();
    }
  });

  it('delete: the documented 204 (no body) is success; a pod already gone (404) is not an error', async () => {
    const doc = fixture('delete-pod');
    const p = await api.createPod(
      createPodBody({ image: 'img', gpuType: 'NVIDIA A40', gpuCount: 1, cloudType: 'SECURE' }, 'msm-del', 20, 'k'),
    );
    await api.terminatePod(p.id);
    const del = fake.calls.filter((c) => c.method === 'DELETE').at(-1)!;
    expect(del).toMatchObject({ path: doc.request.path.replace('{id}', p.id), status: doc.response.status });
    await api.terminatePod(p.id); // gone: 404, swallowed
    expect(fake.calls.filter((c) => c.method === 'DELETE').at(-1)!.status).toBe(404);
    expect(fake.live().some((x) => x.id === p.id)).toBe(false);
  });

  it('catalog: asks as documented (include=AVAILABILITY&product=POD) and reads the documented stock', async () => {
    const doc = fixture('list-gpu-types');
    const served = await answering(doc.response.status, doc.response.body);
    try {
      const gpus = await served.api.gpuCatalog({ count: 2, cloud: 'COMMUNITY' });
      const url = new URL(served.seen[0].url, 'http://x');
      expect(url.pathname).toBe(doc.request.path);
      expect(Object.fromEntries(url.searchParams)).toEqual({ ...doc.request.query, count: '2', cloud: 'COMMUNITY' });
      expect(gpus[0]).toMatchObject({ id: 'NVIDIA GeForce RTX 4090', availability: 'HIGH', maxCount: { secure: 8 } });
    } finally {
      await served.close();
    }
  });

  it('errors: documented problem objects are classified and their words kept', async () => {
    const doc = JSON.parse(
      readFileSync(path.join(__dirname, '..', 'fixtures', 'runpod-v2', 'errors.json'), 'utf8'),
    ) as {
      examples: Record<string, { status: number; detail: string }>;
      noCapacity: { status: number; body: unknown };
    };
    const kinds: Record<string, string> = {
      '400': 'bad-request',
      '401': 'auth',
      '403': 'auth',
      '404': 'not-found',
      '422': 'bad-request',
      '429': 'transient',
    };
    for (const [status, body] of Object.entries(doc.examples)) {
      const served = await answering(Number(status), body, status === '429' ? { 'retry-after': '12' } : {});
      try {
        const err = (await served.api.getPod('p').catch((e: unknown) => e)) as RunpodApiError;
        expect(err).toBeInstanceOf(RunpodApiError);
        expect(err.kind).toBe(kinds[status]);
        expect(err.message).toContain(`HTTP ${status}`);
        expect(err.message).toContain(body.detail);
        if (status === '429') expect(err.retryAfterMs).toBe(12_000);
      } finally {
        await served.close();
      }
    }
    const served = await answering(doc.noCapacity.status, doc.noCapacity.body);
    try {
      const err = (await served.api.createPod({} as never).catch((e: unknown) => e)) as RunpodApiError;
      expect(err.kind).toBe('capacity');
      expect(err.message).toContain(NO_CAPACITY_MESSAGE);
    } finally {
      await served.close();
    }
    // The retired v1 API's envelope says where the fix is.
    const v1 = await answering(500, { error: 'create pod: something went wrong', status: 500 });
    try {
      const err = (await v1.api.getPod('p').catch((e: unknown) => e)) as RunpodApiError;
      expect(err.message).toContain('compute.baseUrl');
    } finally {
      await v1.close();
    }
  });
});

describe('runpod backend on the v2 fake (no SSH reached)', () => {
  const options = (over: Partial<RunpodBackendOptions> = {}): RunpodBackendOptions => ({
    baseUrl: fake.baseUrl,
    apiKey: () => fake.apiKey,
    apiKeyEnv: 'RUNPOD_API_KEY',
    gpuType: 'NVIDIA A40',
    gpuCount: 1,
    cloudType: 'SECURE',
    image: 'img',
    containerDiskGb: 20,
    user: 'root',
    identityFile: path.join(keys, 'id'),
    knownHostsDir: path.join(keys, 'known'),
    workDir: 'msm',
    python: 'python3',
    connectTimeoutSec: 1,
    startTimeoutSec: 30,
    statusCheckSec: 1,
    capacityRetrySec: 7,
    readyPollMs: 20,
    ...over,
  });

  it('no stock in the catalog: a capacity error with the retry delay, and no create call', async () => {
    fake.setStock('NVIDIA A40', 'NONE');
    const creates = () => fake.calls.filter((c) => c.method === 'POST').length;
    const before = creates();
    try {
      const err = await createRunpodBackend(options())
        .provision('nostock')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ComputeCapacityError);
      expect((err as ComputeCapacityError).retryAfterMs).toBe(7000);
      expect((err as Error).message).toContain('no stock of 1x NVIDIA A40 in SECURE cloud');
      expect(creates()).toBe(before);
    } finally {
      fake.setStock('NVIDIA A40', 'HIGH');
    }
  });

  it('rate limited (429): the next try waits as long as RunPod asks (Retry-After)', async () => {
    const served = await answering(429, { title: 'Too Many Requests', status: 429 }, { 'retry-after': '12' });
    try {
      const err = await createRunpodBackend(options({ baseUrl: served.baseUrl, apiKey: () => 'k' }))
        .provision('limited')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ComputeCapacityError);
      expect((err as ComputeCapacityError).retryAfterMs).toBe(12_000);
      expect((err as Error).message).toContain('RunPod asks to wait 12 s');
    } finally {
      await served.close();
    }
  });

  it('a GPU type the catalog does not list, or too many GPUs, is a config error before any create', async () => {
    const e1 = await createRunpodBackend(options({ gpuType: 'NVIDIA H800' }))
      .provision('unknown')
      .catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ComputeConfigError);
    expect((e1 as Error).message).toMatch(
      /compute\.gpuType: RunPod's catalog has no GPU type "NVIDIA H800"; use one of its ids, e\.g\. "NVIDIA/,
    );
    const e2 = await createRunpodBackend(options({ gpuCount: 16 }))
      .provision('toomany')
      .catch((e: unknown) => e);
    expect((e2 as Error).message).toContain('compute.gpuCount: a SECURE pod of NVIDIA A40 has at most 8 GPUs');
    expect(fake.pods.some((p) => p.name === 'msm-unknown' || p.name === 'msm-toomany')).toBe(false);
  });

  it('ERROR while starting fails at once with the fix, and the pod is terminated', async () => {
    fake.failStarts(1);
    const t0 = Date.now();
    const err = await createRunpodBackend(options({ startTimeoutSec: 600 }))
      .provision('broken')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComputeConfigError);
    expect((err as Error).message).toMatch(/went to ERROR while starting .*check compute\.image \(img\)/);
    expect(Date.now() - t0).toBeLessThan(10_000); // not the 600 s start timeout
    const [pod] = fake.pods.filter((p) => p.name === 'msm-broken');
    expect(pod.status).toBe('TERMINATED');
    expect(pod.deletedAt).toBeDefined();
  });

  it("the pod's disk is the job's estimate when larger than the floor (a 32B model's weights do not fit 50 GB)", async () => {
    fake.failStarts(1); // stop after the create: the body is what this test checks
    const manifest = {
      kind: 'midtrain',
      jobId: 'big',
      baseModel: { init: 'pretrained', path: 'hf:Qwen/Qwen3-32B' },
      hyper: { method: 'lora', loraR: 16 },
    } as unknown as TrainerJobManifest;
    await createRunpodBackend(options({ containerDiskGb: 50 }))
      .provision('big', manifest)
      .catch(() => undefined);
    const body = fake.pods.find((p) => p.name === 'msm-big')!.body;
    const expected = podDiskGb(50, manifest);
    expect(body.disk).toBe(expected);
    expect(expected).toBeGreaterThan(70); // ~65 GB of bf16 weights alone
    expect(
      podDiskGb(50, {
        ...manifest,
        baseModel: {
          init: 'random',
          hiddenSize: 64,
          numLayers: 2,
          numHeads: 4,
          intermediateSize: 128,
          vocabSize: 1000,
        },
      }),
    ).toBe(50);
    expect(podDiskGb(50, { ...manifest, baseModel: { init: 'pretrained', path: '/models/unknown-net' } })).toBe(50);
  });
});

describe('estimateJobDiskGb', () => {
  const q32 = KNOWN_MODELS['qwen3-32b'];
  it('weights + checkpoints + output with margin, never below the floor', () => {
    const sample = estimateJobDiskGb(diskNeedsOf(q32, { pretrained: true }));
    const lora = estimateJobDiskGb(diskNeedsOf(q32, { pretrained: true, training: { method: 'lora', loraR: 16 } }));
    const full = estimateJobDiskGb(diskNeedsOf(q32, { pretrained: true, training: { method: 'full', loraR: 16 } }));
    expect(sample).toBeGreaterThan(65 * 1.2); // 32.8 B params × 2 bytes, with margin
    expect(lora).toBeGreaterThan(sample);
    expect(full).toBeGreaterThan((32e9 * 12 * 3) / 1e9); // three fp32 + Adam checkpoints of every weight
    expect(estimateJobDiskGb({ downloadedParams: 0, trainedParams: 1e6 }, 50)).toBe(50);
  });
});

describe('msm plan: a disk figure per GPU job', () => {
  const runpod = {
    backend: 'runpod',
    device: 'cuda',
    gpuType: 'NVIDIA H200',
    gpuCount: 2,
    image: 'img',
    identityFile: '~/.ssh/id_ed25519',
    containerDiskGb: 50,
  };
  const qwen = { name: 'Qwen3-32B', tokenizer: 'qwen3', init: 'pretrained', path: '/nonexistent/Qwen3-32B' };
  const root = path.join(__dirname, '..', '..');

  it("prints each GPU job's disk (above the floor for a 32B model), none on device cpu", () => {
    const x = parseExperiment({ ...demoExperiment('disk'), baseModel: qwen, compute: runpod });
    const plan = planFromDisk(x, root);
    const sampling = estimateJobDiskGb(diskNeedsOf(KNOWN_MODELS['qwen3-32b'], { pretrained: true }), 50);
    expect(plan.jobs.find((j) => j.job === 'eval generate')!.diskGb).toBe(sampling);
    for (const j of plan.jobs) expect(j.diskGb).toBeGreaterThan(sampling - 1);
    expect(formatPlan(plan)).toMatch(/\n {2}disk: \d+ GB \(weights, checkpoints, margin\)/);
    const cpu = planFromDisk(
      parseExperiment({ ...demoExperiment('disk'), compute: { ...runpod, device: 'cpu' } }),
      root,
    );
    expect(cpu.jobs.every((j) => j.diskGb === undefined)).toBe(true);
    expect(formatPlan(cpu)).not.toContain('disk:');
  });
});

describe('a pod nobody polls', () => {
  it("removes itself: the job folder's watchdog command names the pod, and nothing a shell would expand", () => {
    expect(selfRemoval('abc123xyz')).toBe('runpodctl remove pod abc123xyz');
    expect(selfRemoval('a;rm -rf /$(x)')).toBe('runpodctl remove pod arm-rfx');
  });
});
