import { Client, Connection } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentInput } from '../../src/config/experiment-schema';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { msmExperiment, progressQuery } from '../../src/workflows';
import type { ExperimentOutcome } from '../../src/workflows/experiment';
import { MSM_SEARCH_ATTRIBUTES } from '../../src/temporal/search-attribute-keys';
import { scriptedExperiment, waitUntil } from '../helpers/scripted-experiment';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { TemporalCluster } from '../helpers/temporal-cluster';
import { TestTemporalServer } from '../helpers/temporal-server';
import { WorkerProcess } from '../helpers/worker-process';

type Llm = Awaited<ReturnType<typeof startScriptedLlmServer>>;
const MSM = path.join(PROJECT_ROOT, 'bin', 'msm');
const exec = promisify(execFile);
const docRequests = (llm: Llm) => llm.requests.filter((r) => !r.body.response_format).length;

/** The toy experiment of the durability tests, smaller: 12 midtraining steps, one fraction, two arms. */
function toyExperiment(name: string, llm: Llm): { input: ExperimentInput; store: string } {
  const { input, store } = scriptedExperiment(name, llm.baseUrl);
  input.midtrain = { ...input.midtrain!, maxSteps: 12 };
  input.aft = { ...input.aft!, fractions: [1] };
  return { input, store };
}

/**
 * What must not depend on the Temporal server: hashes, losses, verdict counts, intervals. Two things differ
 * by construction and are normalised: the store folder (a temp dir per run), and the 16-hex run/eval keys
 * that hash absolute URIs (the model's, in that store; the judge's scripted server). The workflow id and
 * timestamps are left out.
 */
function comparable(out: ExperimentOutcome, store: string) {
  const text = readFileSync(new URL(out.report.resultsUri), 'utf8')
    .replaceAll(store, '<store>')
    .replace(/-[0-9a-f]{16}\b/g, '-<key>');
  const { lineage, cells, curves, differences, dataEfficiency } = JSON.parse(text) as Record<string, unknown>;
  const { corpusHash, specHash, cells: outcomeCells } = out;
  return { corpusHash, specHash, outcomeCells, lineage, cells, curves, differences, dataEfficiency };
}

/** sha256 of every trained model's weights and every eval's generations, by store path (keys normalised). */
function artifactHashes(store: string): Record<string, string> {
  const files = readdirSync(store, { recursive: true, encoding: 'utf8' }).filter((f) =>
    /(final\/model\.safetensors|samples\.jsonl)$/.test(f),
  );
  return Object.fromEntries(
    files.map((f) => [
      f.replace(/-[0-9a-f]{16}\//g, '-<key>/'),
      createHash('sha256')
        .update(readFileSync(path.join(store, f)))
        .digest('hex'),
    ]),
  );
}

describe('msm on a real Temporal cluster (temporal-server built from Go, on PostgreSQL)', () => {
  let cluster: TemporalCluster;
  let dev: TestTemporalServer;
  const llms: Llm[] = [];
  const workers: WorkerProcess[] = [];
  const clients: Client[] = [];
  const scratch: string[] = []; // stores (~300 MB each) and state folders, removed at the end

  beforeAll(async () => {
    [cluster, dev] = await Promise.all([TemporalCluster.start('msm-cluster'), TestTemporalServer.start()]);
  }, 25 * 60_000);

  afterAll(async () => {
    for (const w of workers) await w.kill();
    for (const c of clients) await c.connection.close();
    for (const l of llms) await l.close();
    await dev?.down();
    await cluster?.down();
    if (cluster) scratch.push(path.join(cluster.dir, 'pg')); // PostgreSQL's data; the logs stay
    for (const d of scratch) rmSync(d, { recursive: true, force: true });
  });

  const connect = async (address: string, namespace: string) => {
    const c = new Client({ connection: await Connection.connect({ address }), namespace });
    clients.push(c);
    return c;
  };
  const startWorker = async (address: string, namespace: string, stateDir: string) => {
    const w = await WorkerProcess.start(address, { TEMPORAL_NAMESPACE: namespace, MSM_STATE_DIR: stateDir });
    workers.push(w);
    return w;
  };

  it('`msm setup` registers the search attributes on the cluster namespace, once', async () => {
    const setup = () =>
      exec(MSM, ['setup', '--address', cluster.address, '--namespace', cluster.namespace], { timeout: 120_000 });
    expect((await setup()).stdout).toContain(`added ${MSM_SEARCH_ATTRIBUTES.map((a) => a.name).join(', ')}`);
    expect((await setup()).stdout).toContain('already registered');
    const c = await connect(cluster.address, cluster.namespace);
    const custom =
      (await c.connection.operatorService.listSearchAttributes({ namespace: cluster.namespace })).customAttributes ??
      {};
    for (const a of MSM_SEARCH_ATTRIBUTES) expect(Object.keys(custom)).toContain(a.name);
  }, 240_000);

  it(
    'two workers, one SIGKILLed and the server crashed and restarted mid-run: the same results as on the dev server',
    async () => {
      // The reference: the same experiment on the dev server, run alongside (each with its own scripted LLM).
      const [llmDev, llmCluster] = [
        await startScriptedLlmServer({ latencyMs: 300 }),
        await startScriptedLlmServer({ latencyMs: 300 }),
      ];
      llms.push(llmDev, llmCluster);
      const devState = mkdtempSync(path.join(os.tmpdir(), 'msm-state-dev-'));
      const clusterState = mkdtempSync(path.join(os.tmpdir(), 'msm-state-cluster-'));
      const devRef = toyExperiment('toy', llmDev);
      const run = toyExperiment('toy', llmCluster);
      scratch.push(devState, clusterState, devRef.store, run.store);
      await startWorker(dev.address, 'default', devState);
      const devRun = (await connect(dev.address, 'default')).workflow
        .start(msmExperiment, { taskQueue: 'msm', workflowId: 'cluster-reference', args: [devRef.input] })
        .then((h) => h.result());

      const [victim] = await Promise.all(
        [0, 1].map(() => startWorker(cluster.address, cluster.namespace, clusterState)),
      );
      const c = await connect(cluster.address, cluster.namespace);
      const handle = await c.workflow.start(msmExperiment, {
        taskQueue: 'msm',
        workflowId: 'cluster-toy',
        args: [run.input],
      });
      await waitUntil(() => docRequests(llmCluster) >= 4, 180_000, 'document generation on the cluster');
      await victim.kill(); // a crashed machine: its in-flight activities time out and run on the other worker

      await waitUntil(
        async () => (await handle.query(progressQuery)).stage === 'midtrain',
        300_000,
        'midtraining on the cluster',
        500,
      );
      const before = cluster.serverPid;
      await cluster.stopServer('KILL');
      await new Promise((r) => setTimeout(r, 3000));
      await cluster.startServer();
      expect(cluster.serverPid).not.toBe(before);

      const fresh = await connect(cluster.address, cluster.namespace);
      const out = await fresh.workflow.getHandle<typeof msmExperiment>(handle.workflowId).result();
      const reference = await devRun;
      expect(out.cells).toHaveLength(2);
      expect(comparable(out, run.store)).toEqual(comparable(reference, devRef.store));
      // Bit-identical artifacts: midtrained and AFT weights, and the evals' generations.
      const hashes = artifactHashes(run.store);
      expect(Object.keys(hashes)).toHaveLength(5); // midtrain + 2 AFT models, 2 evals
      expect(hashes).toEqual(artifactHashes(devRef.store));
      // Visibility on PostgreSQL: the run is found by our search attribute (visibility is written asynchronously).
      const query = `MsmStage = 'done' AND WorkflowId = '${handle.workflowId}'`;
      await waitUntil(async () => (await fresh.workflow.count(query)).count === 1, 30_000, `visibility: ${query}`, 500);
    },
    15 * 60_000,
  );
});
