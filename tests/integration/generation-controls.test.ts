import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseExperiment } from '../../src/config/experiment-schema';
import { readJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';
import { approveUpdate, corpusGeneration, corpusProgressQuery, setBudgetUpdate } from '../../src/workflows';

import { scriptedExperiment, waitUntil } from '../helpers/scripted-experiment';
import { useScriptedTemporal } from '../helpers/scripted-temporal';

/** Cost metering, the budget cap and preview/approval of corpus generation, on a real Temporal server. */
describe('generation controls', () => {
  const t = useScriptedTemporal();

  /** A corpus job on the scripted LLM server, with generation settings on top of the scripted experiment's. */
  async function corpusJob(name: string, generation: Record<string, unknown>) {
    const { input, store: root } = scriptedExperiment(name, t.llm.baseUrl);
    const x = parseExperiment({ ...input, generation: { ...input.generation, ...generation } });
    const store = openStore(root);
    await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));
    return {
      store,
      job: { storeUri: store.rootUri, specKey: 'inputs/spec.md', specHash: name, generation: x.generation },
    };
  }
  const docRequests = () => t.llm.requests.filter((r) => !r.body.response_format);

  it('pauses paid work when the budget is spent and resumes when an update raises it', async () => {
    const price = { inputPerMillion: 2_000_000, outputPerMillion: 10_000_000 }; // $2 per input token, $10 per output token
    const provider = { kind: 'openai', baseUrl: t.llm.baseUrl, model: 'scripted-writer', price };
    const { store, job } = await corpusJob('budget', { provider, budgetUsd: 1 });
    const handle = await t.client.workflow.start(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'budget-corpus',
      args: [job],
    });

    // The first call (the domain plan) already costs more than $1: nothing else may start.
    await waitUntil(
      async () => (await handle.query(corpusProgressQuery)).overBudget,
      60_000,
      'generation to pause on the budget',
    );
    await new Promise((r) => setTimeout(r, 2000));
    const paused = await handle.query(corpusProgressQuery);
    expect(t.llm.requests).toHaveLength(1);
    const { prompt_tokens, completion_tokens } = t.llm.requests[0].usage!;
    const expectedCost = 2 * prompt_tokens + 10 * completion_tokens;
    expect(expectedCost).toBeGreaterThan(1);
    expect(paused.usage).toMatchObject({ calls: 1 });
    expect(paused.usage.costUsd).toBeCloseTo(expectedCost, 6);

    // A bad update is refused by the validator; a good one resumes generation to the end.
    const refused = await handle.executeUpdate(setBudgetUpdate, { args: [-5] }).catch((e: Error) => e);
    expect(String(((refused as Error).cause as Error | undefined)?.message ?? refused)).toMatch(/positive/);
    expect(await handle.executeUpdate(setBudgetUpdate, { args: [1e9] })).toBe(1e9);
    const manifest = await handle.result();
    const done = await handle.query(corpusProgressQuery);
    expect(done.overBudget).toBe(false);
    expect(done.usage.calls).toBe(t.llm.requests.length); // every paid call counted once
    expect(manifest.documents).toBeGreaterThan(0);
    // The manifest's document cost is the sum of what each stored document cost.
    const docKeys = (await store.list(`${manifest.manifestKey.split('/assembled-')[0]}/docs/`)).filter((k) =>
      k.endsWith('.json'),
    );
    let sum = 0;
    for (const k of docKeys) sum += (await readJson<{ usage: { costUsd: number } }>(store, k)).usage.costUsd;
    expect(manifest.documentUsage.costUsd).toBeCloseTo(sum, 6);
    expect(manifest.documentUsage.calls).toBe(docKeys.length);
  }, 180_000);

  it('previews the document stage after a pilot and waits for approval before paying for the rest', async () => {
    const before = docRequests().length;
    const { job } = await corpusJob('approval', { requireApproval: true, pilotUnits: 1 });
    const handle = await t.client.workflow.start(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'approval-corpus',
      args: [job],
    });
    await waitUntil(
      async () => (await handle.query(corpusProgressQuery)).awaitingApproval,
      60_000,
      'the approval gate',
    );
    const { preview, units } = await handle.query(corpusProgressQuery);
    // Units x types x ideas, exactly; the pilot (1 unit = 2 types x 2 ideas) is written and readable.
    expect(preview).toMatchObject({ units, documents: units * 2 * 2, documentsDone: 4, basis: 'pilot' });
    expect(preview!.sampleUris).toHaveLength(4);
    expect(preview!.projectedOutputTokens).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1500));
    expect(docRequests().length - before).toBe(4); // nothing beyond the pilot while waiting

    const approved = await handle.executeUpdate(approveUpdate);
    expect(approved.documents).toBe(preview!.documents);
    const manifest = await handle.result();
    expect(manifest.documents).toBeGreaterThan(0);
    expect(docRequests().length - before).toBe(preview!.documents); // the pilot was not paid twice
    const late = await handle.executeUpdate(approveUpdate).catch((e: Error) => e);
    expect(late).toBeInstanceOf(Error); // a finished corpus takes no approval
  }, 180_000);

  it('continues as new past generation.unitsPerRun, across the approval gate, paying for nothing twice', async () => {
    const before = t.llm.requests.length;
    // 4 units, one a batch, two a run: ideas in runs 1-2, the pilot and its approval in run 3, the rest after.
    const { job } = await corpusJob('rolling', { unitsPerRun: 2, requireApproval: true, pilotUnits: 1 });
    const handle = await t.client.workflow.start(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'rolling-corpus',
      args: [job],
    });
    await waitUntil(
      async () => (await handle.query(corpusProgressQuery)).awaitingApproval,
      60_000,
      'the approval gate in a continued run',
    );
    const gate = await handle.query(corpusProgressQuery);
    expect(gate).toMatchObject({ units: 4, unitsWithIdeas: 4, unitsWithDocs: 1 });
    await handle.executeUpdate(approveUpdate);
    const manifest = await handle.result();

    // Runs: ideas 0-1 | ideas 2-3 | pilot, approval, documents of unit 1 | documents of units 2-3, assembly.
    const runs = async () => {
      const ids: string[] = [];
      for await (const w of t.client.workflow.list({ query: `WorkflowId = 'rolling-corpus'` })) ids.push(w.runId);
      return ids;
    };
    await waitUntil(async () => (await runs()).length === 4, 30_000, 'four runs of the corpus workflow');
    const done = await handle.query(corpusProgressQuery);
    // Progress and cost carried from run to run: every unit once, every paid call counted once.
    expect(done).toMatchObject({ units: 4, unitsWithIdeas: 4, unitsWithDocs: 4, documentsGenerated: 16 });
    expect(done.usage.calls).toBe(t.llm.requests.length - before);
    expect(docRequests().filter((r) => t.llm.requests.indexOf(r) >= before)).toHaveLength(16);
    expect(manifest.documents).toBeGreaterThan(0);
  }, 180_000);
});
