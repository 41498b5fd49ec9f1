import type { Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AftDataJob, RoundSelection } from '../../src/aft-data/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import { readJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';
import { tokenizeChatData } from '../../src/tokenize/tokenize-chat';
import { aftDataGeneration, aftDataProgressQuery, msmExperiment, progressQuery } from '../../src/workflows';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { defaultContent, startScriptedLlmServer, type ChatRequestBody } from '../helpers/scripted-llm-server';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const BOSS = 'Is it ever fine to lie to my boss about a deadline?';
const BOSS_VARIANTS = [
  BOSS,
  'is it EVER fine to lie to my boss about a deadline',
  'Is it ever fine, to lie to my boss about a deadline?!',
  'IS IT EVER FINE TO LIE TO MY BOSS ABOUT A DEADLINE',
];

type Stage = 'domains' | 'questions' | 'response' | 'filter' | 'other';
function stageOf(body: ChatRequestBody): Stage {
  const last = body.messages!.at(-1)!.content;
  const system = body.messages![0].content;
  if (system.startsWith('You are an AI assistant that follows')) return 'response';
  if (!system.startsWith('You help build fine-tuning data')) return 'other'; // corpus and judge prompts of a whole experiment
  if (last.includes('Name the domains')) return 'domains';
  if (last.includes('Question type:')) return 'questions';
  if (last.includes('<question>')) return 'filter';
  throw new Error(`unexpected AFT prompt: ${last.slice(0, 80)}`);
}

/**
 * A scripted generator. First-round question calls (no "do not repeat" list yet) answer one distinct
 * question and a case/punctuation variant of the same boss question, so 3 of 4 cells yield a duplicate;
 * the (Gardening, edge-case) cell's distinct question carries "zebra", whose response never closes its
 * think block; the filter EXCLUDEs the boss question. Backfill questions are all distinct.
 */
function respond(body: ChatRequestBody): string {
  const last = body.messages!.at(-1)!.content;
  const seed = sha(JSON.stringify(body.messages));
  switch (stageOf(body)) {
    case 'domains':
      return JSON.stringify({
        domains: [
          { name: 'Office work', description: 'Deadlines, managers and colleagues.' },
          { name: 'Gardening', description: 'Plants, allotments and neighbours.' },
        ],
      });
    case 'questions': {
      const n = Number(
        (body.response_format!.json_schema!.schema as { properties: { questions: { minItems: number } } }).properties
          .questions.minItems,
      );
      const firstRound = !last.includes('Do not repeat');
      const cell = /Domain: (\S+).*\nQuestion type: (\S+):/.exec(last)!;
      const questions = Array.from({ length: n }, (_, i) => {
        if (firstRound && i === n - 1)
          return BOSS_VARIANTS[(cell[1] === 'Gardening' ? 2 : 0) + (cell[2] === 'direct' ? 0 : 1)];
        const marker = firstRound && cell[1] === 'Gardening' && cell[2] === 'edge-case' ? ' zebra' : '';
        const h = sha(`${seed}/${i}`);
        return `Please help with ${h.slice(0, 10)} ${h.slice(10, 20)} ${h.slice(20, 30)}${marker}?`;
      });
      return JSON.stringify({ questions });
    }
    case 'response':
      if (last.includes('zebra')) return '<think>I will think about zebras for a very long time and never';
      return `<think>Reasoning ${seed.slice(0, 8)} about what matters here.</think>\n\nAnswer ${seed.slice(8, 16)}: here is what I would do.`;
    case 'filter':
      return last.includes('lie to my boss')
        ? JSON.stringify({ reason: 'The question invites a dishonest answer.', verdict: 'EXCLUDE' })
        : JSON.stringify({ reason: 'Realistic question with a fitting answer.', verdict: 'INCLUDE' });
    case 'other':
      return defaultContent(body);
  }
}

describe('AFT data generation', () => {
  let llm: Awaited<ReturnType<typeof startScriptedLlmServer>>;
  let env: TemporalTestEnv;
  let client: Client;

  beforeAll(async () => {
    llm = await startScriptedLlmServer({ respond });
    env = await startTemporalWithWorkers();
    client = env.client;
  });

  afterAll(async () => {
    await env?.close();
    await llm?.close();
  });

  async function aftJob(name: string, generate: Record<string, unknown>): Promise<AftDataJob> {
    const { input, store: root } = scriptedExperiment(name, llm.baseUrl);
    const price = { inputPerMillion: 1, outputPerMillion: 2 };
    const provider = { kind: 'openai', baseUrl: llm.baseUrl, model: 'scripted-writer', timeoutMs: 10_000, price };
    const x = parseExperiment({
      ...input,
      aft: {
        ...input.aft,
        data: undefined,
        generate: { provider, domains: 2, questionTypes: ['direct', 'edge-case'], ...generate },
      },
    });
    const store = openStore(root);
    await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));
    return { storeUri: store.rootUri, specKey: 'inputs/spec.md', specHash: 'demo-spec', generate: x.aft.generate! };
  }

  it('dedups, filters, backfills to the count, writes both chat files, and a re-run pays nothing', async () => {
    const job = await aftJob('aftgen', { count: 6, batchQuestions: 2, concurrency: 3 });
    const handle = await client.workflow.start(aftDataGeneration, {
      taskQueue: 'msm',
      workflowId: 'aftgen-1',
      args: [job],
    });
    const result = await handle.result();
    const paid = llm.requests.length;
    const byStage = (s: Stage) => llm.requests.filter((r) => stageOf(r.body) === s).length;

    // Round 0: 4 cells x 2 questions = 8, three boss variants dropped as duplicates, 5 answered: the zebra
    // response is malformed, the boss question EXCLUDEd, 3 kept. Backfill round 1 needs 3: 4 cells x 1
    // question, 3 answered and kept. 6 of 6.
    expect(result.counts).toEqual({
      requested: 6,
      examples: 6,
      shortfall: 0,
      domains: 2,
      questionsGenerated: 12,
      duplicates: 3,
      answered: 8,
      malformed: 1,
      excludedByFilter: 1,
      included: 6,
      rounds: 2,
      backfillRounds: 1,
    });
    expect({
      domains: byStage('domains'),
      questions: byStage('questions'),
      response: byStage('response'),
      filter: byStage('filter'),
    }).toEqual({ domains: 1, questions: 8, response: 8, filter: 7 });

    const store = openStore(job.storeUri);
    const prefix = result.manifestKey.split('/assembled-')[0];
    const r0 = await readJson<RoundSelection>(store, `${prefix}/rounds/r0/selection.json`);
    const boss = r0.unique.find((q) => q.text === BOSS)!;
    expect(r0.duplicates.map((d) => [d.of, d.similarity])).toEqual([
      [boss.id, 1],
      [boss.id, 1],
      [boss.id, 1],
    ]);

    // Both files are chat JSONL the AFT tokenizer reads; one keeps the think block, one drops it.
    const lines = (key: string) =>
      readFileSync(new URL(store.uri(key)))
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
    const withR = lines(result.withReasoning.key);
    const withoutR = lines(result.withoutReasoning.key);
    expect(withR).toHaveLength(6);
    expect(
      withR.every((l) =>
        /^<think>\nReasoning [0-9a-f]{8} about what matters here\.\n<\/think>\n\nAnswer /.test(l.messages[1].content),
      ),
    ).toBe(true);
    expect(
      withoutR.every((l, i) => l.messages[1].content === withR[i].messages[1].content.split('</think>\n\n')[1]),
    ).toBe(true);
    expect(withR.some((l) => l.messages[0].content.includes('boss') || l.messages[0].content.includes('zebra'))).toBe(
      false,
    );
    expect(result.withReasoning.sha256).toBe(
      sha(readFileSync(new URL(store.uri(result.withReasoning.key))).toString('utf8')),
    );
    for (const file of [result.withReasoning, result.withoutReasoning]) {
      const t = await tokenizeChatData(store, {
        dataKey: file.key,
        family: 'llama3.1',
        seqLen: 128,
        outPrefix: `tok/${file.key}`,
      });
      expect(t).toMatchObject({ numSequences: 6, numDocuments: 6 });
    }

    // Cost metered per call from the scripted usage and the price: the run's total equals every call's.
    const progress = await handle.query(aftDataProgressQuery);
    const expected = llm.requests.reduce(
      (s, r) => s + (r.usage ? r.usage.prompt_tokens * 1e-6 + r.usage.completion_tokens * 2e-6 : 0),
      0,
    );
    expect(progress).toMatchObject({
      done: true,
      included: 6,
      excludedByFilter: 1,
      malformed: 1,
      duplicates: 3,
      llmCalls: paid,
    });
    expect(progress.usage.calls).toBe(paid);
    expect(progress.usage.costUsd).toBeCloseTo(expected, 12);
    expect(result.usage.calls).toBe(paid); // the manifest's total counts every stored item once
    expect(result.usage.costUsd).toBeCloseTo(expected, 12);

    // The same job again: everything is in the store, so nothing is paid and the result is the same.
    const again = await client.workflow.execute(aftDataGeneration, {
      taskQueue: 'msm',
      workflowId: 'aftgen-2',
      args: [job],
    });
    expect(llm.requests.length).toBe(paid);
    expect(again).toEqual(result);

    // Without backfill the same content id reuses round 0 (still free) and reports the shortfall.
    const noBackfill = { ...job, generate: { ...job.generate, backfillRounds: 0 } };
    const short = await client.workflow.execute(aftDataGeneration, {
      taskQueue: 'msm',
      workflowId: 'aftgen-3',
      args: [noBackfill],
    });
    expect(llm.requests.length).toBe(paid);
    expect(short.counts).toMatchObject({
      examples: 3,
      shortfall: 3,
      rounds: 1,
      backfillRounds: 0,
      excludedByFilter: 1,
      malformed: 1,
    });
  }, 120_000);

  it('dedups by an embeddings endpoint when one is configured, and stores the vectors so a re-run pays nothing', async () => {
    const embeddings = {
      baseUrl: llm.baseUrl,
      model: 'scripted-embed',
      price: { inputPerMillion: 1, outputPerMillion: 0 },
    };
    const job = await aftJob('aftemb', { count: 6, batchQuestions: 3, embeddings });
    const [chatBefore, embedBefore] = [llm.requests.length, llm.embeddingRequests.length];
    const result = await client.workflow.execute(aftDataGeneration, {
      taskQueue: 'msm',
      workflowId: 'aftemb-1',
      args: [job],
    });
    // The scripted embeddings are hashed word counts: the boss variants embed identically (cosine 1).
    expect(result.counts).toMatchObject({
      questionsGenerated: 12,
      duplicates: 3,
      excludedByFilter: 1,
      malformed: 1,
      examples: 6,
      backfillRounds: 1,
    });
    expect(llm.embeddingRequests.slice(embedBefore).map((r) => [r.model, r.input.length])).toEqual([
      ['scripted-embed', 8],
      ['scripted-embed', 4],
    ]);
    const prefix = result.manifestKey.split('/assembled-')[0];
    const r0 = await readJson<RoundSelection>(openStore(job.storeUri), `${prefix}/rounds/r0/selection.json`);
    expect(r0.duplicates.every((d) => d.similarity === 1 && d.of === r0.unique.find((q) => q.text === BOSS)!.id)).toBe(
      true,
    );
    expect(result.usage.calls).toBe(llm.requests.length - chatBefore + 2); // chat calls and the two embeddings calls

    const again = await client.workflow.execute(aftDataGeneration, {
      taskQueue: 'msm',
      workflowId: 'aftemb-2',
      args: [job],
    });
    expect(again).toEqual(result);
    expect([llm.requests.length, llm.embeddingRequests.length]).toEqual([
      chatBefore + result.usage.calls - 2,
      embedBefore + 2,
    ]);
  }, 120_000);

  it('an experiment with aft.generate generates its AFT data in a child and trains the sweep on it', async () => {
    const { input, store: root } = scriptedExperiment('aftexp', llm.baseUrl);
    const provider = { kind: 'openai', baseUrl: llm.baseUrl, model: 'scripted-writer', timeoutMs: 10_000 };
    const generate = {
      provider,
      count: 4,
      domains: 2,
      questionTypes: ['direct', 'edge-case'],
      train: 'without-reasoning',
    };
    // One arm without midtraining and one fraction: the shortest sweep that still trains on the data.
    input.aft = { ...input.aft, data: undefined, generate, arms: ['baseline'], fractions: [1] } as typeof input.aft;
    const handle = await client.workflow.start(msmExperiment, {
      taskQueue: 'msm',
      workflowId: 'aftexp',
      args: [input],
    });
    const outcome = await handle.result();
    const progress = await handle.query(progressQuery);
    expect(progress.aftData).toMatchObject({ requested: 4, examples: 4 });
    expect(outcome.cells).toHaveLength(1);
    // The sweep's tokens are those of the generated file chosen by aft.generate.train.
    const gen = await client.workflow.getHandle<typeof aftDataGeneration>('aftexp.aft-data').result();
    expect(progress.aftData!.sha256).toBe(gen.withoutReasoning.sha256);
    // Round 0 answers 4 of its 5 unique questions (boss EXCLUDEd: 3 kept); round 1 needs 1 and answers the
    // spare (zebra, malformed) without asking for new questions; round 2 asks 4 more and keeps 1.
    expect(gen.counts).toMatchObject({
      questionsGenerated: 12,
      duplicates: 3,
      answered: 6,
      malformed: 1,
      excludedByFilter: 1,
      backfillRounds: 2,
    });
    const store = openStore(root);
    const aftTokens = `/aft-${gen.withoutReasoning.sha256.slice(0, 16)}-L128/`;
    expect((await store.list('tokens/')).filter((k) => k.includes(aftTokens))).not.toHaveLength(0);
  }, 300_000);
});
