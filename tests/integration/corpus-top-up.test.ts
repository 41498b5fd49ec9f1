import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpusPrefix } from '../../src/activities/corpus-activities';
import type { CorpusManifestRef } from '../../src/activities/types';
import { parseExperiment } from '../../src/config/experiment-schema';
import type { StageList } from '../../src/corpus/stage-list';
import type { ArtifactStore } from '../../src/store/artifact-store';
import { readJson } from '../../src/store/json';
import { openStore } from '../../src/store/open-store';
import { corpusGeneration } from '../../src/workflows';
import type { RecordedRequest } from '../helpers/scripted-llm-server';
import { scriptedExperiment } from '../helpers/scripted-experiment';
import { useScriptedTemporal } from '../helpers/scripted-temporal';

/** The spec these corpora are written about (it gives reasons: the prompt set of corpus ids). */
const SPEC_WITH_REASONS = readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md'), 'utf8');

/** Which stage a request to the scripted server belongs to: the structured ones name their list in the schema. */
function stageOf(r: RecordedRequest): string {
  const props = (r.body.response_format?.json_schema?.schema?.properties ?? {}) as Record<string, unknown>;
  return Object.keys(props)[0] ?? 'document';
}
const userText = (r: RecordedRequest) =>
  (r.body.messages ?? [])
    .filter((m) => m.role === 'user')
    .map((m) => m.content)
    .join('\n');

/** Corpus generation run twice on one store, with larger counts the second time, on a real Temporal server. */
describe('corpus top-up', () => {
  const t = useScriptedTemporal();

  /** Runs corpusGeneration with these generation settings and returns the manifest and the requests it made. */
  async function run(store: ArtifactStore, id: string, generation: Record<string, unknown>) {
    const { input } = scriptedExperiment(id, t.llm.baseUrl);
    // Threshold 1: the scripted documents are short and alike, and this test counts every one.
    const x = parseExperiment({
      ...input,
      store: store.rootUri,
      generation: { ...input.generation, nearDuplicateThreshold: 1, ...generation },
    });
    const job = { storeUri: store.rootUri, specKey: 'inputs/spec.md', specHash: 'demo', generation: x.generation };
    const before = t.llm.requests.length;
    const manifest = await t.client.workflow.execute(corpusGeneration, {
      taskQueue: 'msm',
      workflowId: id,
      args: [job],
    });
    const requests = t.llm.requests.slice(before);
    const count = (stage: string) => requests.filter((r) => stageOf(r) === stage).length;
    return { manifest, requests, count, prefix: corpusPrefix(job, SPEC_WITH_REASONS) };
  }

  const lines = async (store: ArtifactStore, m: CorpusManifestRef) => {
    const out: string[] = [];
    for (const k of m.shardKeys) out.push(...(await store.get(k)).toString('utf8').trim().split('\n'));
    return out;
  };

  it('n=2 then n=3 asks only for the missing items, lists the stored ones, and keeps the old documents; n=2 again pays nothing', async () => {
    const { store: root } = scriptedExperiment('top-up', t.llm.baseUrl);
    const store = openStore(root);
    await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));

    // The scripted planner returns 2 domains x 2 subdomains = 4 units (maxUnits 4).
    const first = await run(store, 'top-up-n2', { typesPerUnit: 2, ideasPerType: 2 });
    expect([
      first.count('domains'),
      first.count('assertions'),
      first.count('types'),
      first.count('ideas'),
      first.count('document'),
    ]).toEqual([1, 4, 4, 8, 16]);
    expect(first.manifest.documents).toBe(16);
    // Types, ideas and documents see the unit's assertions.
    const assertions0 = (
      await readJson<StageList<{ text: string; label: string }>>(store, `${first.prefix}/assertions/u0000.json`)
    ).items;
    expect(assertions0.length).toBeGreaterThanOrEqual(3);
    const unit0 = first.requests.filter(
      (r) =>
        stageOf(r) !== 'domains' &&
        stageOf(r) !== 'assertions' &&
        userText(r).includes(`(${assertions0[0].label}) ${assertions0[0].text}`),
    );
    expect(new Set(unit0.map(stageOf))).toEqual(new Set(['types', 'ideas', 'document']));

    const typesBefore = await Promise.all(
      [0, 1, 2, 3].map((u) => readJson<StageList<string>>(store, `${first.prefix}/types/u000${u}.json`)),
    );
    const second = await run(store, 'top-up-n3', { typesPerUnit: 3, ideasPerType: 3 });
    expect(second.prefix).toBe(first.prefix); // the counts are not part of the corpus id
    // 4 units x 1 missing type; 8 stored idea lists x 1 missing idea + 4 new types x 3 ideas; 36 - 16 documents.
    expect([
      second.count('domains'),
      second.count('assertions'),
      second.count('types'),
      second.count('ideas'),
      second.count('document'),
    ]).toEqual([0, 0, 4, 12, 20]);
    const typeTopUps = second.requests.filter((r) => stageOf(r) === 'types');
    for (const [u, stored] of typesBefore.entries()) {
      const asked = typeTopUps.filter((r) => stored.items.every((t) => userText(r).includes(`- ${t}`)));
      expect(asked).toHaveLength(1); // one top-up per unit, listing that unit's stored types
      expect(userText(asked[0])).toMatch(/List 1 different kinds[\s\S]*Do not repeat these kinds/);
      expect(asked[0].body.response_format?.json_schema?.schema).toMatchObject({
        properties: { types: { minItems: 1, maxItems: 1 } },
      });
      // The record grew by appending: positions (and so document ids) are unchanged.
      const after = await readJson<StageList<string>>(store, `${first.prefix}/types/u000${u}.json`);
      expect(after.items.slice(0, 2)).toEqual(stored.items);
      expect(after).toMatchObject({ promptVersion: 'corpus-v3', requested: 3 });
      expect(after.calls.map((c) => [c.asked, c.kept])).toEqual([
        [2, 2],
        [1, 1],
      ]);
      expect(after.calls[1].request).toContain('Do not repeat these kinds');
      expect(after.calls[1].promptSha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const ideaTopUps = second.requests.filter(
      (r) => stageOf(r) === 'ideas' && userText(r).includes('Do not repeat these ideas'),
    );
    expect(ideaTopUps).toHaveLength(8);
    expect(ideaTopUps.every((r) => /Give 1 ideas/.test(userText(r)))).toBe(true);

    // The larger corpus holds every document of the smaller one, byte for byte, and hashes differently.
    expect(second.manifest.documents).toBe(36);
    expect(second.manifest.hash).not.toBe(first.manifest.hash);
    const old = await lines(store, first.manifest);
    const now = new Set(await lines(store, second.manifest));
    expect(old.filter((l) => !now.has(l))).toEqual([]);
    const doc = JSON.parse(old[0]) as { promptVersion: string; promptSha256: string };
    expect(doc).toMatchObject({ promptVersion: 'corpus-v3', promptSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });

    // Smaller counts again: the first n of every list, nothing paid, the first corpus exactly.
    const third = await run(store, 'top-up-n2-again', { typesPerUnit: 2, ideasPerType: 2 });
    expect(third.requests).toHaveLength(0);
    expect(third.manifest).toEqual(first.manifest);
  }, 240_000);

  it('more domains add units after the stored ones; fewer select the first plan again', async () => {
    const { store: root } = scriptedExperiment('top-up-domains', t.llm.baseUrl);
    const store = openStore(root);
    await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));
    const few = { domains: 2, maxUnits: 100, typesPerUnit: 1, ideasPerType: 1 };
    const first = await run(store, 'domains-2', few);
    const units2 = await readJson<unknown[]>(store, `${first.prefix}/units.json`);
    expect(units2).toHaveLength(4);

    const second = await run(store, 'domains-3', { ...few, domains: 3 });
    const plan = second.requests.filter((r) => stageOf(r) === 'domains');
    expect(plan).toHaveLength(1);
    expect(userText(plan[0])).toMatch(/about 1 new domains[\s\S]*Do not repeat these domains/);
    const units3 = await readJson<unknown[]>(store, `${first.prefix}/units.json`);
    expect(units3.slice(0, 4)).toEqual(units2);
    const added = units3.length - 4;
    expect(added).toBeGreaterThan(0);
    // Only the new units are paid for: their assertions, types, ideas and documents.
    expect([
      second.count('assertions'),
      second.count('types'),
      second.count('ideas'),
      second.count('document'),
    ]).toEqual([added, added, added, added]);
    expect(second.manifest.documents).toBe(units3.length);

    const third = await run(store, 'domains-2-again', few);
    expect(third.requests).toHaveLength(0);
    expect(third.manifest).toEqual(first.manifest);
  }, 240_000);

  it('generation.targetTokens: plans units from the target, tops up a short corpus, and says when maxUnits stops it', async () => {
    const { store: root } = scriptedExperiment('target', t.llm.baseUrl);
    const store = openStore(root);
    await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));
    // maxDocTokens 200 plans 0.68 × 200 × 4 documents = 544 tokens a unit: 150 plans one unit. The scripted
    // documents are one short sentence (18 estimated tokens, 72 a unit), so the corpus is short and topped up.
    const sized = { typesPerUnit: 2, ideasPerType: 2 };
    const first = await run(store, 'target-150', { ...sized, targetTokens: 150 });
    const estimated = async (m: CorpusManifestRef) =>
      Math.round((await lines(store, m)).reduce((n, l) => n + (JSON.parse(l) as { text: string }).text.length, 0) / 4);
    expect(first.manifest.estimatedTokens).toBe(await estimated(first.manifest));
    // 1 unit (72 tokens), then 78 short at 72 a unit with 5% to spare: 2 more, 216 tokens.
    expect(first.manifest.documents).toBe(12);
    expect(first.count('document')).toBe(12);
    expect(first.manifest.target).toEqual({
      targetTokens: 150,
      estimatedTokens: first.manifest.estimatedTokens,
      topUpRounds: 1,
      reached: true,
    });

    // A larger target on the same store: 2 units planned (stored), topped up to maxUnits 4, then stopped short.
    const second = await run(store, 'target-1000', { ...sized, targetTokens: 1000 });
    expect(second.count('document')).toBe(4); // only unit 3's: units 0-2 are stored
    expect(second.manifest.documents).toBe(16);
    const tokens = second.manifest.estimatedTokens!;
    expect(second.manifest.target).toEqual({
      targetTokens: 1000,
      estimatedTokens: tokens,
      topUpRounds: 1,
      reached: false,
      shortBy: 1000 - tokens,
      why: 'at generation.maxUnits (4): raise it, or typesPerUnit / ideasPerType, to go on',
    });
  }, 240_000);

  it('rules mode: one unit per (domain, rule) with the rule verbatim, and no assertions', async () => {
    const { store: root } = scriptedExperiment('rules-mode', t.llm.baseUrl);
    const store = openStore(root);
    await store.put('inputs/spec.md', readFileSync(path.join(__dirname, '..', '..', 'specs', 'demo.md')));
    const r = await run(store, 'rules-mode', {
      mode: 'rules',
      domains: 2,
      maxUnits: 100,
      typesPerUnit: 1,
      ideasPerType: 1,
    });
    // The demo spec has 6 rules; the scripted planner names 2 domains.
    expect([
      r.count('domains'),
      r.count('assertions'),
      r.count('types'),
      r.count('ideas'),
      r.count('document'),
    ]).toEqual([1, 0, 12, 12, 12]);
    const plan = r.requests.find((q) => stageOf(q) === 'domains')!;
    expect(plan.body.response_format?.json_schema?.schema).not.toHaveProperty(
      'properties.domains.items.properties.subdomains',
    );
    const units = await readJson<
      { domain: string; subdomain: string; specSection: string; ruleId: string; rules: string[] }[]
    >(store, `${r.prefix}/units.json`);
    expect(units).toHaveLength(12);
    expect(units.slice(0, 6).map((u) => u.ruleId)).toEqual(['s1.r1', 's1.r2', 's1.r3', 's2.r1', 's2.r2', 's2.r3']);
    expect(units[0]).toMatchObject({
      subdomain: '',
      specSection: 'Honesty about limits',
      rules: [
        'Say clearly when a request is beyond what you can reliably do.\n- Name the specific gap, such as no internet access, no memory of past chats, or no way to check a result, rather than giving a vague disclaimer.',
      ],
    });
    const docs = r.requests.filter((q) => stageOf(q) === 'document');
    expect(
      docs.filter((q) =>
        userText(q).includes(
          'verbatim from the spec:\n- Stop or pause at once when the people responsible for you tell you to.',
        ),
      ),
    ).toHaveLength(2);
    expect(r.manifest.documents).toBe(12);
    // The mode is part of the corpus id: rules and assertions corpora never share a folder.
    expect(r.prefix).not.toBe(
      corpusPrefix(
        {
          specHash: 'demo',
          generation: parseExperiment(scriptedExperiment('x', t.llm.baseUrl).input).generation,
        },
        SPEC_WITH_REASONS,
      ),
    );
  }, 240_000);
});
