import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Payload } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSweepFile } from '../../src/sweep/load-sweep-file';
import { startCodecServer, type RunningCodecServer } from '../../src/temporal/codec-server';
import { dataConverterOption, payloadCodecFrom } from '../../src/temporal/payload-codec';
import { createWorkers, runWorkers } from '../../src/workers/create-workers';
import type { msmSweep } from '../../src/workflows';
import { launchChromium } from '../helpers/chromium';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { TestTemporalServer } from '../helpers/temporal-server';

/**
 * The trust model on a real Temporal server, with the workers in this process: a workflow input that names a
 * key variable or a host off the workers' allowlists is refused before any call (the scripted LLM server,
 * reachable at both, records none), and with MSM_PAYLOAD_KEY set every payload in history is ciphertext
 * that the codec client and the codec server's /decode turn back into the input and the result.
 */
const UI = 'http://localhost:8233';
/** Text of the sweep's input alone (no search attribute or summary holds it): seen only once decrypted. */
const MARKER = 'seen-only-when-decoded';
let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
let server: TestTemporalServer;
let client: Client;
let plainClient: Client;
let codecServer: RunningCodecServer;
let stopWorkers: () => Promise<void>;
/** The Web UI origins the codec server answers: the dev server's own UI is added once its port is known. */
const origins = [UI];

beforeAll(async () => {
  process.env.MSM_PAYLOAD_KEY = randomBytes(32).toString('base64');
  // Set, so that only the allowlist stands between it and the scripted server.
  process.env.MSM_TRUST_SECRET = 'worker-secret';
  llm = await startScriptedLlmServer();
  codecServer = await startCodecServer({ codec: payloadCodecFrom()!, port: 0, origins });
  server = await TestTemporalServer.start({ uiCodecEndpoint: codecServer.url });
  origins.push(`http://127.0.0.1:${server.uiPort}`);
  // The workers read MSM_PAYLOAD_KEY when created: every payload they write is encrypted.
  const connection = await NativeConnection.connect({ address: server.address });
  const workers = await createWorkers({ connection, deployment: null });
  const running = runWorkers(workers);
  stopWorkers = async () => {
    workers.forEach((w) => w.shutdown());
    await running;
    await connection.close();
  };
  plainClient = new Client({ connection: await Connection.connect({ address: server.address }) });
  client = new Client({ connection: plainClient.connection, ...dataConverterOption() });
}, 180_000);

afterAll(async () => {
  await stopWorkers?.();
  await plainClient?.connection.close();
  await server?.down();
  await codecServer?.close();
  await llm?.close();
  delete process.env.MSM_PAYLOAD_KEY;
  delete process.env.MSM_TRUST_SECRET;
});

/** A sweep of one point whose generator names MSM_TRUST_SECRET and whose judge is the server by another name. */
function hostileSweep() {
  const port = new URL(llm.url).port;
  const { input } = scriptedExperiment('trust', llm.baseUrl);
  const generation = {
    ...input.generation,
    provider: { kind: 'openai', baseUrl: llm.baseUrl, model: 'w', apiKeyEnv: 'MSM_TRUST_SECRET' },
  };
  // ::ffff:127.0.0.1 reaches the scripted server too, but is not a host on the list.
  const judge = { kind: 'openai', baseUrl: `http://[::ffff:127.0.0.1]:${port}/v1`, model: 'j' };
  const base = { ...input, generation, eval: { ...input.eval, judge } };
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'msm-trust-')), 'sweep.json');
  writeFileSync(
    file,
    JSON.stringify({ name: 'trust', description: MARKER, base, axes: { 'eval.samplesPerPrompt': [1] } }),
  );
  return loadSweepFile(file).input;
}

const encoding = (p: Payload | null | undefined) => Buffer.from(p?.metadata?.encoding ?? []).toString();
const asJson = (p: Payload) => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

async function codec(op: 'encode' | 'decode', payloads: unknown[]) {
  const res = await fetch(`${codecServer.url}/${op}`, {
    method: 'POST',
    headers: { origin: UI, 'content-type': 'application/json', 'x-namespace': 'default' },
    body: JSON.stringify({ payloads }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('access-control-allow-origin')).toBe(UI);
  return ((await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> }).payloads;
}

describe('the trust model on a real Temporal server', () => {
  it('refuses the key variable and the host before any call; history holds ciphertext the codec server decodes', async () => {
    const handle = await client.workflow.start<typeof msmSweep>('msmSweep', {
      taskQueue: 'msm',
      workflowId: 'trust-sweep',
      args: [hostileSweep()],
    });
    const out = await handle.result();
    // Refused as bad input at the first activity: nothing retried, no request made.
    const point = out.points[0];
    expect(point.status).toBe('failed');
    expect(point.error).toMatch(
      /generation\.provider\.apiKeyEnv: the workers do not read API keys from MSM_TRUST_SECRET/,
    );
    expect(point.error).toMatch(/eval\.judge\.baseUrl: the workers do not call ::ffff:7f00:1/);
    expect(point.error).toMatch(/MSM_ALLOWED_HOSTS/);
    expect(llm.calls()).toBe(0);
    expect(llm.embeddingRequests).toHaveLength(0);

    // The sweep's and its experiment's histories: every input and result is encrypted.
    const events = [
      ...(await handle.fetchHistory()).events!,
      ...(await client.workflow.getHandle(point.workflowId).fetchHistory()).events!,
    ];
    const payloads = events.flatMap((e) => [
      ...(e.workflowExecutionStartedEventAttributes?.input?.payloads ?? []),
      ...(e.activityTaskScheduledEventAttributes?.input?.payloads ?? []),
      ...(e.workflowExecutionCompletedEventAttributes?.result?.payloads ?? []),
    ]);
    expect(payloads.length).toBeGreaterThanOrEqual(3);
    for (const p of payloads) {
      expect(encoding(p)).toBe('binary/encrypted');
      expect(Buffer.from(p.data!).toString('latin1')).not.toContain('specs/demo.md');
      expect(Buffer.from(p.data!).toString('latin1')).not.toContain(MARKER);
    }
    // A client without the key cannot read the result.
    await expect(plainClient.workflow.getHandle('trust-sweep').result()).rejects.toThrow();

    // The Web UI's way: POST /decode gives back the JSON payloads; /encode then /decode round-trips.
    const started = events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0] as Payload;
    const [decoded] = await codec('decode', [asJson(started)]);
    expect(Buffer.from(decoded.metadata.encoding, 'base64').toString()).toBe('json/plain');
    const input = JSON.parse(Buffer.from(decoded.data, 'base64').toString()) as { base: { spec: string } };
    expect(input.base.spec).toBe('specs/demo.md');
    const [sealed] = await codec('encode', [decoded]);
    expect(Buffer.from(sealed.metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    expect(await codec('decode', [sealed])).toEqual([decoded]);
  }, 180_000);

  it("the dev server's Web UI shows the sweep's input, decoded through the codec server", async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const decodes: string[] = [];
      page.on('request', (r) => {
        if (r.url().startsWith(codecServer.url)) decodes.push(r.headers()['x-namespace']);
      });
      await page.goto(`http://127.0.0.1:${server.uiPort}/namespaces/default/workflows/trust-sweep`);
      await page.getByText(MARKER).first().waitFor({ timeout: 60_000 });
      expect(decodes).toContain('default');
    } finally {
      await browser.close();
    }
  }, 120_000);

  it('the codec server answers the Web UI preflight and refuses other origins', async () => {
    const preflight = await fetch(`${codecServer.url}/default/decode`, {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
    const other = await fetch(`${codecServer.url}/decode`, {
      method: 'POST',
      headers: { origin: 'https://elsewhere.example', 'content-type': 'application/json' },
      body: JSON.stringify({ payloads: [] }),
    });
    expect(other.status).toBe(403);
  });
});
