import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { CorpusManifestRef } from '../../src/activities/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import { requestBody } from '../../src/llm/openai-compatible';
import { seedOfKey } from '../../src/llm/seed';
import { openStore } from '../../src/store/open-store';
import { corpusGeneration } from '../../src/workflows';
import { PROJECT_ROOT } from '../../src/util/project-paths';
import type { RecordedRequest } from '../helpers/scripted-llm-server';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { useScriptedTemporal } from '../helpers/scripted-temporal';

/**
 * Generation seeded from each item's key: two runs of the same experiment from empty stores ask for the
 * same samples, and the corpus manifest says whether the provider reproduces them. With the local model the
 * same request gives the same sample whatever came before it (tests/integration/llm-local.test.ts), so its
 * corpus is the same from two empty stores; the manifest's verdict per provider is in
 * tests/unit/corpus-assembly.test.ts.
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
