/**
 * Judging one cell's samples (judgeSamples) against a local OpenAI-compatible judge with latency and an
 * enforced rate limit, one sample at a time and with eval.judgeConcurrency in flight, side by side:
 *   (a) requests made with concurrency / the most the server's window (and concurrency / latency) allows in
 *       that time (goal >= 0.95), and limit violations seen by the server (goal 0);
 *   (b) wall time sequential / concurrent.
 *   npm run bench -- judge [--samples 1200] [--rps 40] [--latency 50] [--concurrency 8]
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createEvalActivities } from '../src/activities/eval-activities';
import { parseExperiment } from '../src/config/experiment-schema';
import { parseEvalSet } from '../src/eval/eval-set';
import type { EvalRequest, EvalSummary, SamplesRef } from '../src/eval/types';
import { openStore } from '../src/store/open-store';
import { PROJECT_ROOT } from '../src/util/project-paths';
import { sha256Hex } from '../src/util/hash';
import { startScriptedLlmServer } from '../tests/helpers/scripted-llm-server';
import { enforce, WINDOW_S } from './rate-limit';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      samples: { type: 'string', default: '1200' },
      rps: { type: 'string', default: '40' },
      latency: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '8' },
    },
  });
  const [count, rps, latency, concurrency] = [values.samples, values.rps, values.latency, values.concurrency].map(
    Number,
  );
  const { fault, stats } = enforce(rps);
  const llm = await startScriptedLlmServer({ latencyMs: latency, faults: () => fault() });
  const evalText = readFileSync(path.join(PROJECT_ROOT, 'experiments', 'data', 'demo-eval.jsonl'), 'utf8');
  const prompts = parseEvalSet(evalText, 'demo-eval.jsonl');
  const dirs: string[] = [];
  const env = new MockActivityEnvironment();
  const judge = createEvalActivities().judgeSamples;

  /** One cell's worth of samples in a fresh store, judged at the given concurrency. */
  const run = async (model: string, judgeConcurrency: number) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-bench-judge-'));
    dirs.push(dir);
    const store = openStore(dir);
    await store.put('inputs/eval.jsonl', evalText);
    const lines = Array.from({ length: count }, (_, i) => ({
      promptId: prompts[i % prompts.length].id,
      sample: Math.floor(i / prompts.length),
      text: `Answer ${i}: I would tell the people responsible and stop.`,
    }));
    await store.put('evals/bench/samples.jsonl', lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    // One model name per run: each gets its own limiter, so neither inherits the other's window.
    const provider = {
      kind: 'openai',
      baseUrl: llm.baseUrl,
      model,
      timeoutMs: 30_000,
      limits: { requests: rps * WINDOW_S, perSeconds: WINDOW_S },
    };
    const x = parseExperiment({
      name: 'bench',
      spec: 'specs/demo.md',
      aft: { data: 'x' },
      eval: { prompts: 'x', judge: provider, judgeConcurrency },
    });
    const req: EvalRequest = {
      storeUri: store.rootUri,
      label: 'bench',
      modelUri: null,
      tokenizerUri: 'file:///unused',
      evalSet: { key: 'inputs/eval.jsonl', sha256: sha256Hex(evalText), prompts: prompts.length },
      experiment: { baseModel: x.baseModel, compute: x.compute, eval: x.eval },
      seed: 0,
    };
    const samples: SamplesRef = {
      evalKey: 'evals/bench',
      samplesKey: 'evals/bench/samples.jsonl',
      samplesUri: store.uri('evals/bench/samples.jsonl'),
      samples: count,
    };
    const calls0 = llm.requests.length;
    const violations0 = stats.violations;
    const t0 = performance.now();
    const summary = (await env.run(judge, req, samples)) as EvalSummary;
    const seconds = (performance.now() - t0) / 1000;
    return {
      seconds,
      calls: llm.requests.length - calls0,
      violations: stats.violations - violations0,
      judged: summary.n + (summary.unjudged ?? 0),
    };
  };

  try {
    const one = await run('bench-sequential', 1);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000 + 500)); // let the server's window empty
    const many = await run('bench-concurrent', concurrency);
    const achieved = many.calls / many.seconds;
    // The most a sliding window of WINDOW_S seconds lets through in the run's time (bursts included), and
    // what concurrency / latency allows: the lower one is the ceiling.
    const windowCap = rps * WINDOW_S * Math.ceil(many.seconds / WINDOW_S);
    const ceiling = Math.min(windowCap, (concurrency / (latency / 1000)) * many.seconds);
    console.log(`samples: ${count} per run (${one.judged} and ${many.judged} judged); judge latency ${latency} ms`);
    console.log(`limit: ${rps * WINDOW_S} requests per ${WINDOW_S} s at the server; concurrency ${concurrency}`);
    console.log(
      `(a) concurrent: ${achieved.toFixed(1)} requests/s; ${many.calls} requests = ${(many.calls / ceiling).toFixed(3)} of the most the window and concurrency / latency allow in ${many.seconds.toFixed(1)} s (goal >= 0.95); violations: ${one.violations} sequential, ${many.violations} concurrent (goal 0)`,
    );
    console.log(
      `(b) wall: sequential ${one.seconds.toFixed(1)} s (${(one.calls / one.seconds).toFixed(1)} requests/s), concurrent ${many.seconds.toFixed(1)} s: ${(one.seconds / many.seconds).toFixed(2)}x faster`,
    );
    console.log(
      JSON.stringify({
        bench: 'judge',
        samples: count,
        rpsLimit: rps,
        latencyMs: latency,
        concurrency,
        sequentialSeconds: Number(one.seconds.toFixed(2)),
        concurrentSeconds: Number(many.seconds.toFixed(2)),
        speedup: Number((one.seconds / many.seconds).toFixed(2)),
        achievedRps: Number(achieved.toFixed(2)),
        achievedOverAllowed: Number((many.calls / ceiling).toFixed(3)),
        violations: one.violations + many.violations,
      }),
    );
  } finally {
    await llm.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
