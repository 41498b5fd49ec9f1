import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorpusManifestRef } from '../../src/activities/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import { requestBody } from '../../src/llm/openai-compatible';
import { seedOfKey } from '../../src/llm/seed';
import { openStore } from '../../src/store/open-store';
import { corpusGeneration } from '../../src/workflows';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import { startTemporalWithWorkers, type TemporalTestEnv } from '../helpers/in-process-workers';
import type { RecordedRequest } from '../helpers/scripted-llm-server';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { useScriptedTemporal } from '../helpers/scripted-temporal';

/**
 * Generation seeded from each item's key: two runs of the same experiment from empty stores ask for the
 * same samples, and the corpus manifest says whether the provider reproduces them.
 */
async function corpusFromEmptyStore(
  client: Client,
  id: string,
  raw: Record<string, unknown>,
): Promise<CorpusManifestRef & { storeUri: string }> {
  const storeUri = `file://${mkdtempSync(path.join(os.tmpdir(), `msm-repro-${id}-`))}`;
  const store = openStore(storeUri);
  await store.put('inputs/spec.md', readFileSync(path.join(PROJECT_ROOT, 'specs', 'demo.md')));
  const x = parseExperiment(raw);
  const job = { storeUri, specKey: 'inputs/spec.md', specHash: 'demo', generation: x.generation };
  const manifest = await client.workflow.execute(corpusGeneration, { taskQueue: 'msm', workflowId: id, args: [job] });
  return { ...manifest, storeUri };
}

const userText = (r: RecordedRequest) => (r.body.messages ?? []).map((m) => `${m.role}: ${m.content}`).join('\n');

describe('seeded generation on a scripted OpenAI-compatible server', () => {
  const t = useScriptedTemporal();

  it('sends a seed with every request, the same one for the same item in two runs from empty stores', async () => {
    const seedsOf = async (id: string) => {
      const { input } = scriptedExperiment(id, t.llm.baseUrl);
      const before = t.llm.requests.length;
      const manifest = await corpusFromEmptyStore(t.client, id, input as Record<string, unknown>);
      const requests = t.llm.requests.slice(before);
      return { manifest, seeds: new Map(requests.map((r) => [userText(r), r.body.seed])) };
    };
    const a = await seedsOf('seeded-a');
    const b = await seedsOf('seeded-b');
    expect(a.seeds.size).toBeGreaterThan(10);
    for (const seed of a.seeds.values()) expect(Number.isInteger(seed)).toBe(true);
    expect([...b.seeds.entries()].sort()).toEqual([...a.seeds.entries()].sort());
    // Different items get different seeds.
    expect(new Set(a.seeds.values()).size).toBe(a.seeds.size);
    // The scripted server answers the same request the same way, so the corpus is the same too.
    expect(b.manifest.hash).toBe(a.manifest.hash);
    expect(a.manifest.reproducible).toBe('best-effort');
    const doc = (await openStore(a.manifest.storeUri).get(a.manifest.shardKeys[0])).toString('utf8').split('\n')[0];
    expect((JSON.parse(doc) as { seed?: number }).seed).toEqual(expect.any(Number));
  }, 300_000);

  it("puts the seed in the request body: the explicit one, else the key's, else none", () => {
    const base = { messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 8, temperature: 0.9 };
    expect(requestBody('m', { ...base, seed: 5, requestId: 'k' }).seed).toBe(5);
    expect(requestBody('m', { ...base, requestId: 'k' }).seed).toBe(seedOfKey('k'));
    expect(requestBody('m', base)).not.toHaveProperty('seed');
  });

  it('derives a 31-bit seed from the key alone', () => {
    expect(seedOfKey('corpus/x/docs/u0000-t00-i00.json')).toBe(seedOfKey('corpus/x/docs/u0000-t00-i00.json'));
    expect(seedOfKey('corpus/x/docs/u0000-t00-i00.json')).not.toBe(seedOfKey('corpus/x/docs/u0000-t00-i01.json'));
    for (const k of ['a', 'b', 'c', 'd']) {
      expect(seedOfKey(k)).toBeGreaterThanOrEqual(0);
      expect(seedOfKey(k)).toBeLessThan(2 ** 31);
    }
  });
});

/**
 * The demo's generation settings (the real local Gemma 3 270M, temperature 0.9, truncated documents kept,
 * one unit per activity, two activities at once) scaled down to 2 units of 1 type and 1 idea with short
 * documents, so two runs fit in a few minutes on 2 shared cores. Two activities at once interleave their
 * requests differently on every run: before, that order changed the samples.
 */
describe('the demo corpus, scaled down (2 units × 1 type × 1 idea, real local model)', () => {
  let env: TemporalTestEnv;
  beforeAll(async () => {
    env = await startTemporalWithWorkers();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('has the same hash from two empty stores, and its manifest says it is reproducible', async () => {
    const demo = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'experiments', 'demo.json'), 'utf8')) as {
      generation: Record<string, unknown>;
    } & Record<string, unknown>;
    const scaled = {
      ...demo,
      generation: { ...demo.generation, domains: 1, maxUnits: 2, typesPerUnit: 1, ideasPerType: 1, maxDocTokens: 48 },
    };
    expect(scaled.generation).toMatchObject({
      provider: { kind: 'local' },
      temperature: 0.9,
      truncated: 'keep',
      batchUnits: 1,
      concurrency: 2,
    });
    const a = await corpusFromEmptyStore(env.client, 'demo-repro-a', scaled);
    const b = await corpusFromEmptyStore(env.client, 'demo-repro-b', scaled);
    expect(a.documents).toBeGreaterThan(0);
    expect(b.documents).toBe(a.documents);
    expect(b.hash).toBe(a.hash);
    expect(a.reproducible).toBe('yes');
  }, 2_700_000);
});
