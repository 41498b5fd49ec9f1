import { Client, Connection } from '@temporalio/client';
import { existsSync, readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/report/results';
import { msmExperiment, progressQuery } from '../../src/workflows';
import { startScriptedLlmServer } from '../helpers/scripted-llm-server';
import { scriptedExperiment, waitUntil } from '../helpers/scripted-experiment';
import { renderReportInBrowser } from '../helpers/report-in-browser';
import { TestTemporalServer } from '../helpers/temporal-server';
import { WorkerProcess } from '../helpers/worker-process';

type Llm = Awaited<ReturnType<typeof startScriptedLlmServer>>;
// Document requests are the plain-text ones; the structured stages and the judge ask for JSON.
const docPrompts = (llm: Llm) =>
  llm.requests.filter((r) => !r.body.response_format).map((r) => JSON.stringify(r.body.messages));

/** Find files matching a predicate under dir (recursive). */
function findFiles(dir: string, pred: (p: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter(pred);
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

  it('a worker SIGKILLed mid-generation and mid-training and the Temporal server restarted: the run completes, no document paid twice, training resumes, the agentic suite is evaluated and the report opens', async () => {
    // One run carries every disruption (each whole run costs minutes on 2 cores). The agentic-misalignment
    // suite end to end: the real trainer answers every held-out scenario, the scripted judge rules on each with
    // the kind's judge prompt, and the report groups by condition. (The cheese values suite end to end, forced
    // choices parsed from the real trainer's answers: tests/e2e/cheese-values.test.ts.)
    const { input, store } = scriptedExperiment('crash', llm.baseUrl);
    input.eval = { ...input.eval!, prompts: 'experiments/data/agentic-eval.jsonl' }; // its held-out split (eval.split auto)
    // One fraction: two cells (baseline, msm) carry every claim here; fractions are the workflow lane's.
    input.aft = { ...input.aft, fractions: [1] };
    let worker = await startWorker();
    const handle = await client.workflow.start(msmExperiment, {
      taskQueue: 'msm',
      workflowId: 'durability-crash',
      args: [input],
    });

    await waitUntil(() => docPrompts(llm).length >= 4, 120_000, 'document generation to start');
    await worker.kill();
    const docsAtKill = docPrompts(llm).length;
    worker = await startWorker();

    // The server goes down while documents are still being generated, and comes back with its history.
    await waitUntil(() => docPrompts(llm).length >= docsAtKill + 2, 120_000, 'document generation to go on');
    await server.down();
    await new Promise((r) => setTimeout(r, 3000));
    await server.up();
    const fresh = new Client({ connection: await Connection.connect({ address: server.address }) });

    try {
      // Mid-training: wait for a complete midtraining checkpoint, then lose the worker and the trainer.
      await waitUntil(
        () =>
          findFiles(path.join(store, 'runs'), (p) => /midtrain-.*\/checkpoints\/step-\d+\/COMPLETE$/.test(p)).length >
          0,
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

      const run = fresh.workflow.getHandle<typeof msmExperiment>(handle.workflowId);
      const out = await run.result();
      const progress = await run.query(progressQuery);
      const prompts = docPrompts(llm);
      const unique = new Set(prompts);
      // Every document was requested; twice only those in flight at a disruption (≤ generation concurrency, 2,
      // at the kill and at the restart).
      expect(unique.size).toBe(16);
      expect(prompts.length - unique.size).toBeLessThanOrEqual(4);
      expect(docsAtKill).toBeLessThan(16);
      expect(progress.midtrain?.resumedFromStep).toBeGreaterThan(0);
      // The cost meter saw it: the job had died with its worker, so the retry counted a preemption.
      expect(progress.midtrain?.compute?.preemptions).toBeGreaterThanOrEqual(1);
      // Midtraining kept one machine record (the retry found this machine unreleased) and 2 AFT runs.
      expect(progress.compute?.machines).toBeGreaterThanOrEqual(3);
      expect(out.cells).toHaveLength(2);
      for (const c of out.cells) expect(c.n).toBeGreaterThan(0);

      const results = JSON.parse(readFileSync(new URL(out.report.resultsUri), 'utf8')) as Results;
      const grid = new Set(
        readFileSync('experiments/data/agentic-eval.jsonl', 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { condition: { kind: string; goal: string; urgency: string }; split: string })
          .filter((l) => l.split === 'heldout')
          .map(({ condition: c }) => `kind=${c.kind}/goal=${c.goal}/urgency=${c.urgency}`),
      );
      expect(results.lineage.evalSet).toMatchObject({ prompts: 27, of: 54, split: 'heldout' });
      for (const cell of results.cells) {
        expect(cell.eval.n + cell.unjudged).toBe(27); // every held-out scenario, one sample each
        expect(cell.conditions!.map((c) => c.condition).sort()).toEqual([...grid].sort());
        expect(cell.executed).not.toBeNull(); // reported beside the headline, never as it
      }
      for (const curve of results.curves) for (const p of curve.points) expect(p.macro!.conditions).toBe(grid.size);
      // The report of a real run, as a person opens it: no errors, both arms drawn.
      const page = await renderReportInBrowser(out.report.htmlPath!);
      expect(page.errors).toEqual([]);
      expect(page.strokeColours.length).toBeGreaterThanOrEqual(2);
      expect(page.inkShare).toBeGreaterThan(0.01);
      expect(page.text).toContain('durability-crash');
    } finally {
      await fresh.connection.close();
    }
  }, 900_000);
});
