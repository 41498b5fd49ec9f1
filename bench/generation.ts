/**
 * Corpus generation through Temporal against a local OpenAI-compatible server with latency and an
 * enforced rate limit, and the same activities run by a plain concurrent loop, side by side:
 *   (a) achieved / allowed request rate (goal >= 0.95) and limit violations seen by the server (goal 0);
 *   (b) wall time through Temporal / plain loop at the same concurrency (goal <= 1.05);
 *   (c) workflow history events per 10k documents.
 *   npm run bench -- generation [--docs 2000] [--rps 60] [--latency 40] [--concurrency 8]
 */
import { Client, Connection } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createCorpusActivities } from '../src/activities/corpus-activities';
import type { CorpusJob } from '../src/corpus/types';
import type { CorpusManifestRef } from '../src/activities/types';
import { parseExperiment } from '../src/config/experiment-schema';
import { openStore } from '../src/store/open-store';
import { PROJECT_ROOT } from '../src/util/project-paths';
import { defaultContent, startScriptedLlmServer, type ChatRequestBody } from '../tests/helpers/scripted-llm-server';
import { TestTemporalServer } from '../tests/helpers/temporal-server';
import { enforce, WINDOW_S } from './rate-limit';

const UNITS_PER_DOMAIN = 2;

/** The domain plan names as many domains as the run needs; every other answer is the scripted default. */
function respondWith(domains: number) {
  return (body: ChatRequestBody): string => {
    if (!JSON.stringify(body.response_format ?? {}).includes('"domains"')) return defaultContent(body);
    const section =
      (
        body.response_format!.json_schema!.schema as {
          properties: {
            domains: {
              items: { properties: { subdomains: { items: { properties: { specSection: { enum?: string[] } } } } } };
            };
          };
        }
      ).properties.domains.items.properties.subdomains.items.properties.specSection.enum?.[0] ?? 'General';
    return JSON.stringify({
      domains: Array.from({ length: domains }, (_, d) => ({
        name: `Domain ${d}`,
        description: `Work and life in area number ${d}.`,
        subdomains: Array.from({ length: UNITS_PER_DOMAIN }, (_, s) => ({
          name: `Area ${d}.${s}`,
          specSection: section,
        })),
      })),
    });
  };
}

/** What Temporal's retry policy does for the workflow run: retry a retryable failure after its delay. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApplicationFailure) || e.nonRetryable) throw e;
      await new Promise((r) => setTimeout(r, Number(e.nextRetryDelay ?? 1000)));
    }
  }
}

/** Run `count` tasks with at most `limit` at once (the plain loop). */
async function pool(count: number, limit: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      docs: { type: 'string', default: '2000' },
      rps: { type: 'string', default: '60' },
      latency: { type: 'string', default: '40' },
      concurrency: { type: 'string', default: '8' },
    },
  });
  const rps = Number(values.rps);
  const concurrency = Number(values.concurrency);
  const typesPerUnit = 5;
  const ideasPerType = 8;
  const units = Math.ceil(Number(values.docs) / (typesPerUnit * ideasPerType));
  const domains = Math.ceil(units / UNITS_PER_DOMAIN);
  process.env.MSM_LLM_SLOTS = String(concurrency); // read when the worker module loads, below

  const { fault, stats } = enforce(rps);
  const llm = await startScriptedLlmServer({
    latencyMs: Number(values.latency),
    respond: respondWith(domains),
    faults: () => fault(),
  });
  const server = await TestTemporalServer.start();
  const { createWorkers, runWorkers } = await import('../src/workers/create-workers.js');
  const { corpusGeneration } = await import('../src/workflows/index.js');
  (await import('../src/workers/console-logger.js')).installConsoleLogger();
  const connection = await NativeConnection.connect({ address: server.address });
  const workers = await createWorkers({ connection, queues: ['msm', 'msm-llm'] });
  const running = runWorkers(workers);
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  const dirs: string[] = [];

  const jobFor = async (model: string): Promise<CorpusJob> => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-bench-gen-'));
    dirs.push(dir);
    const store = openStore(dir);
    await store.put('inputs/spec.md', readFileSync(path.join(PROJECT_ROOT, 'specs', 'demo.md')));
    // One model name per run: each gets its own limiter, so neither inherits the other's window.
    const provider = {
      kind: 'openai',
      baseUrl: llm.baseUrl,
      model,
      timeoutMs: 10_000,
      limits: { requests: rps * WINDOW_S, perSeconds: WINDOW_S },
    };
    const x = parseExperiment({
      name: 'bench',
      spec: 'specs/demo.md',
      aft: { data: 'x' },
      eval: { prompts: 'x' },
      generation: {
        provider,
        domains,
        maxUnits: units,
        typesPerUnit,
        ideasPerType,
        maxDocTokens: 200,
        batchUnits: 1,
        concurrency,
        nearDuplicateThreshold: 1,
      },
    });
    return { storeUri: store.rootUri, specKey: 'inputs/spec.md', specHash: model, generation: x.generation };
  };

  try {
    // Through Temporal: the corpus workflow and its activities on a real server.
    const calls0 = llm.requests.length;
    let t0 = performance.now();
    const handle = await client.workflow.start(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: 'bench-generation',
      args: [await jobFor('bench-temporal')],
    });
    const manifest = await handle.result();
    const temporalMs = performance.now() - t0;
    const temporalCalls = llm.requests.length - calls0;
    const violationsTemporal = stats.violations;
    const history = await handle.fetchHistory();
    const events = history.events?.length ?? 0;

    await new Promise((r) => setTimeout(r, WINDOW_S * 1000 + 500)); // let the server's window empty
    // The same activities, same batches and concurrency, from a plain loop (no Temporal).
    const acts = createCorpusActivities();
    const env = new MockActivityEnvironment();
    const job = await jobFor('bench-plain');
    const calls1 = llm.requests.length;
    t0 = performance.now();
    const ref: Awaited<ReturnType<typeof acts.planCorpus>> = await retrying(() => env.run(acts.planCorpus, job));
    await pool(ref.units, concurrency, (u) =>
      retrying(() => env.run(acts.generateTypesAndIdeas, job, ref, { from: u, to: u + 1 })),
    );
    await pool(ref.units, concurrency, (u) =>
      retrying(() => env.run(acts.generateDocuments, job, ref, { from: u, to: u + 1 })),
    );
    const plain: CorpusManifestRef = await env.run(acts.assembleCorpus, ref, {
      nearDuplicateThreshold: 1,
      truncated: job.generation.truncated,
    });
    const plainMs = performance.now() - t0;
    const plainCalls = llm.requests.length - calls1;

    const achieved = temporalCalls / (temporalMs / 1000);
    const ratio = temporalMs / plainMs;
    const perTenK = Math.round((events * 10_000) / manifest.documents);
    console.log(
      `documents: ${manifest.documents} through Temporal, ${plain.documents} in the plain loop; ${temporalCalls} / ${plainCalls} LLM calls`,
    );
    console.log(
      `limit: ${rps * WINDOW_S} requests per ${WINDOW_S} s at the server; latency ${values.latency} ms; concurrency ${concurrency}`,
    );
    console.log(
      `(a) achieved ${achieved.toFixed(1)} requests/s through Temporal = ${(achieved / rps).toFixed(3)} of allowed (goal >= 0.95); violations: ${violationsTemporal} Temporal, ${stats.violations - violationsTemporal} plain`,
    );
    console.log(
      `(b) wall: Temporal ${(temporalMs / 1000).toFixed(1)} s, plain loop ${(plainMs / 1000).toFixed(1)} s, ratio ${ratio.toFixed(3)} (goal <= 1.05)`,
    );
    console.log(
      `(c) corpus workflow history: ${events} events for ${manifest.documents} documents = ${perTenK} per 10k documents`,
    );
    console.log(
      JSON.stringify({
        bench: 'generation',
        documents: manifest.documents,
        llmCalls: temporalCalls,
        rpsLimit: rps,
        achievedRps: Number(achieved.toFixed(2)),
        achievedOverAllowed: Number((achieved / rps).toFixed(3)),
        violations: stats.violations,
        temporalSeconds: Number((temporalMs / 1000).toFixed(2)),
        plainSeconds: Number((plainMs / 1000).toFixed(2)),
        temporalOverPlain: Number(ratio.toFixed(3)),
        historyEventsPer10kDocs: perTenK,
      }),
    );
  } finally {
    workers.forEach((w) => w.shutdown());
    await running;
    await connection.close();
    await client.connection.close();
    await llm.close();
    await server.down();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
