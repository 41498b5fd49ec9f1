import { Client, Connection } from '@temporalio/client';
import { existsSync, readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msmExperiment, progressQuery } from '../src/workflows';
import { startScriptedLlmServer } from './helpers/scripted-llm-server';
import { scriptedExperiment, waitUntil } from './helpers/scripted-experiment';
import { TestTemporalServer } from './helpers/temporal-server';
import { WorkerProcess } from './helpers/worker-process';

type Llm = Awaited<ReturnType<typeof startScriptedLlmServer>>;
// Document requests are the plain-text ones; the structured stages and the judge ask for JSON.
const docPrompts = (llm: Llm) =>
  llm.requests.filter((r) => !r.body.response_format).map((r) => JSON.stringify(r.body.messages));

/** Find files matching a predicate under dir (recursive). */
function findFiles(dir: string, pred: (p: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)).filter(pred);
}

describe('msmExperiment survives crashes on a real Temporal server', () => {
  let server: TestTemporalServer;
  let llm: Llm;
  let client: Client;
  const workers: WorkerProcess[] = [];
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'msm-state-'));
  const env = { MSM_STATE_DIR: stateDir };

  beforeAll(async () => {
    server = await TestTemporalServer.start();
    llm = await startScriptedLlmServer({ latencyMs: 500 });
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  });

  afterAll(async () => {
    for (const w of workers) await w.kill();
    await client?.connection.close();
    await llm?.close();
    await server?.down();
  });

  const startWorker = async () => {
    const w = await WorkerProcess.start(server.address, env);
    workers.push(w);
    return w;
  };

  it('(a) a worker killed mid-generation and mid-training: completes, no document paid twice, training resumes', async () => {
    const { input, store } = scriptedExperiment('crash', llm.baseUrl);
    let worker = await startWorker();
    const handle = await client.workflow.start(msmExperiment, { taskQueue: 'msm', workflowId: 'durability-crash', args: [input] });

    await waitUntil(() => docPrompts(llm).length >= 4, 120_000, 'document generation to start');
    await worker.kill();
    const docsAtKill = docPrompts(llm).length;
    worker = await startWorker();

    // Mid-training: wait for a complete midtraining checkpoint, then lose the worker and the trainer.
    await waitUntil(
      () => findFiles(path.join(store, 'runs'), (p) => /midtrain-.*\/checkpoints\/step-\d+\/COMPLETE$/.test(p)).length > 0,
      240_000,
      'a complete midtraining checkpoint',
    );
    await worker.kill();
    for (const pidFile of findFiles(path.join(stateDir, 'compute'), (p) => p.endsWith('/pid'))) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim().split(' ')[0]); // "<pid> <start time>"
      try {
        process.kill(-pid, 'SIGKILL'); // the whole job's process group: the machine is gone
      } catch {
        // already exited
      }
    }
    await startWorker();

    const out = await handle.result();
    const progress = await handle.query(progressQuery);
    const prompts = docPrompts(llm);
    const unique = new Set(prompts);
    // Every document was requested; only those in flight at the kill (≤ generation concurrency) twice.
    expect(unique.size).toBe(16);
    expect(prompts.length - unique.size).toBeLessThanOrEqual(2);
    expect(docsAtKill).toBeLessThan(16);
    expect(progress.midtrain?.resumedFromStep).toBeGreaterThan(0);
    expect(out.cells).toHaveLength(4);
    for (const c of out.cells) expect(c.n).toBeGreaterThan(0);
    expect(existsSync(out.report.htmlPath!)).toBe(true);
  }, 900_000);

  it('(b) the Temporal server restarts mid-run and the run completes', async () => {
    const { input } = scriptedExperiment('restart', llm.baseUrl);
    const before = docPrompts(llm).length;
    await startWorker();
    const handle = await client.workflow.start(msmExperiment, { taskQueue: 'msm', workflowId: 'durability-restart', args: [input] });
    await waitUntil(() => docPrompts(llm).length >= before + 3, 120_000, 'document generation to start');
    await server.down();
    await new Promise((r) => setTimeout(r, 3000));
    await server.up();
    const fresh = new Client({ connection: await Connection.connect({ address: server.address }) });
    try {
      const out = await fresh.workflow.getHandle<typeof msmExperiment>(handle.workflowId).result();
      expect(out.cells).toHaveLength(4);
      expect(new Set(docPrompts(llm).slice(before)).size).toBe(16);
    } finally {
      await fresh.connection.close();
    }
  }, 900_000);
});
