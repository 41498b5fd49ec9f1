import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCorpusActivities } from '../../src/activities/corpus-activities';
import type { AssemblySettings, CorpusDocument } from '../../src/corpus/types';
import type { CorpusManifestRef, CorpusRef } from '../../src/activities/types';
import { readJson, writeJson } from '../../src/store/json';
import { assembleCorpusFolder } from '../../src/corpus/assemble';
import type { ArtifactStore } from '../../src/store/artifact-store';
import { sha256Hex } from '../../src/util/hash';
import { openStore } from '../../src/store/open-store';

const prose = (seed: number) => {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s);
  return Array.from({ length: 300 }, () => `w${next() % 4000}`).join(' ');
};

function doc(id: string, text: string, truncated = false): CorpusDocument {
  const meta = {
    domain: 'd',
    subdomain: 's',
    specSection: 'S',
    type: 't',
    idea: 'i',
    specHash: 'h',
    promptVersion: 'v',
    generator: 'g',
  };
  return { id, text, truncated, ...meta, usage: { inputTokens: 100, outputTokens: 10, costUsd: 0.25 } };
}

async function corpusWith(docs: CorpusDocument[]) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'msm-assembly-'));
  const store = openStore(root);
  for (const d of docs) await writeJson(store, `corpus/x/docs/${d.id}.json`, d);
  return { store, ref: { storeUri: store.rootUri, prefix: 'corpus/x' } };
}

const assemble = (ref: CorpusRef, settings: AssemblySettings): Promise<CorpusManifestRef> =>
  new MockActivityEnvironment().run(createCorpusActivities().assembleCorpus, ref, settings);

describe('corpus assembly', () => {
  const a = prose(1);
  const nearA = a.replace(/^((?:\S+ ){150})\S+/, '$1edited');
  const docs = [
    doc('u0-t00-i00', a),
    doc('u0-t00-i01', nearA),
    doc('u0-t00-i02', prose(2)),
    doc('u0-t01-i00', prose(3), true),
    doc('u0-t01-i01', ''),
  ];

  it('drops near-duplicates, empty and (by default) truncated documents, and counts each', async () => {
    const { store, ref } = await corpusWith(docs);
    const m = await assemble(ref, { nearDuplicateThreshold: 0.85, truncated: 'drop' });
    expect(m).toMatchObject({ documents: 2, duplicatesRemoved: 1, truncatedDropped: 1, truncated: 0 });
    // What the corpus cost to make counts every generated document, dropped ones too.
    expect(m.documentUsage).toEqual({ calls: 5, inputTokens: 500, outputTokens: 50, costUsd: 1.25 });
    const ids = (await store.get(m.shardKeys[0]))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).id);
    expect(ids).toEqual(['u0-t00-i00', 'u0-t00-i02']); // the first of a near-duplicate pair is the one kept
    expect(await readJson(store, m.manifestKey)).toEqual(m);
  });

  it('keeps truncated documents flagged when asked, in a separate assembly with its own hash', async () => {
    const { ref } = await corpusWith(docs);
    const dropped = await assemble(ref, { nearDuplicateThreshold: 0.85, truncated: 'drop' });
    const kept = await assemble(ref, { nearDuplicateThreshold: 0.85, truncated: 'keep' });
    expect(kept).toMatchObject({ documents: 3, truncated: 1, truncatedDropped: 0 });
    expect(kept.manifestKey).not.toBe(dropped.manifestKey);
    expect(kept.hash).not.toBe(dropped.hash);
    // A looser threshold keeps the edited copy too; a re-run returns the stored manifest unchanged.
    expect((await assemble(ref, { nearDuplicateThreshold: 1, truncated: 'keep' })).documents).toBe(4);
    expect(await assemble(ref, { nearDuplicateThreshold: 0.85, truncated: 'keep' })).toEqual(kept);
  });

  it('takes only the documents within the selection, in a folder (and hash) of its own', async () => {
    // Positions beyond 99 sort wrongly as text ("t100" < "t11"): assembly orders by position.
    const grid = [
      doc('u0000-t00-i00', prose(5)),
      doc('u0000-t00-i01', prose(6)),
      doc('u0000-t01-i00', prose(7)),
      doc('u0001-t00-i00', prose(8)),
    ];
    const { store, ref } = await corpusWith([
      ...grid,
      doc('u0000-t100-i00', prose(9)),
      doc('u0000-t11-i00', prose(10)),
    ]);
    const settings: AssemblySettings = { nearDuplicateThreshold: 0.85, truncated: 'drop' };
    const idsOf = async (m: CorpusManifestRef) =>
      (await store.get(m.shardKeys[0]))
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id);
    const small = await assemble({ ...ref, selection: { units: 1, typesPerUnit: 1, ideasPerType: 2 } }, settings);
    expect(await idsOf(small)).toEqual(['u0000-t00-i00', 'u0000-t00-i01']);
    const larger = await assemble({ ...ref, selection: { units: 2, typesPerUnit: 2, ideasPerType: 2 } }, settings);
    expect(await idsOf(larger)).toEqual(['u0000-t00-i00', 'u0000-t00-i01', 'u0000-t01-i00', 'u0001-t00-i00']);
    expect(larger.hash).not.toBe(small.hash);
    expect(larger.manifestKey).not.toBe(small.manifestKey);
    const all = await assemble({ ...ref, selection: { units: 2, typesPerUnit: 200, ideasPerType: 2 } }, settings);
    expect((await idsOf(all)).slice(2, 4)).toEqual(['u0000-t01-i00', 'u0000-t11-i00']);
    expect((await idsOf(all)).at(-2)).toBe('u0000-t100-i00');
    // Back to the smaller counts: the stored assembly, unchanged.
    expect(await assemble({ ...ref, selection: { units: 1, typesPerUnit: 1, ideasPerType: 2 } }, settings)).toEqual(
      small,
    );
  });

  it("counts the kept documents' estimated tokens (characters / 4), and counts them for a manifest assembled before", async () => {
    const { store, ref } = await corpusWith(docs);
    const m = await assemble(ref, { nearDuplicateThreshold: 0.85, truncated: 'drop' });
    // Kept: the first of the near-duplicate pair and prose(2); the truncated, empty and edited copy are not counted.
    expect(m.estimatedTokens).toBe(Math.round((a.length + prose(2).length) / 4));
    const { estimatedTokens, ...old } = m;
    await writeJson(store, m.manifestKey, old);
    expect(await assemble(ref, { nearDuplicateThreshold: 0.85, truncated: 'drop' })).toEqual({
      ...old,
      estimatedTokens,
    });
    expect(await readJson(store, m.manifestKey)).toEqual(old);
  });

  it('fails as bad input, naming the counts and the fix, when nothing usable is left', async () => {
    const { ref } = await corpusWith([doc('u0-t00-i00', prose(4), true)]);
    const err = await assemble(ref, { nearDuplicateThreshold: 0.85, truncated: 'drop' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(/1 truncated.*generation\.truncated: "keep"/);
  });

  // With the local model a sample depends on its request alone (tests/integration/llm-local.test.ts) and each
  // item's seed on its key alone (tests/integration/corpus-reproducible.test.ts): its corpus is reproducible.
  it('says the corpus is as reproducible as its least reproducible document', async () => {
    const by = (generator: string, seed?: number) => ({
      ...doc(`u0-t00-i0${generator.length}`, prose(5)),
      generator,
      seed,
    });
    const verdict = async (...docs: CorpusDocument[]) =>
      (await assemble((await corpusWith(docs)).ref, { nearDuplicateThreshold: 1, truncated: 'keep' })).reproducible;
    const local = by('local:gemma-3-270m', 1);
    expect(await verdict(local)).toBe('yes');
    expect(await verdict(local, { ...by('openai:gpt-x', 2), id: 'u0-t00-i09', text: prose(6) })).toBe('best-effort');
    expect(await verdict(local, { ...by('anthropic:claude', 3), id: 'u0-t00-i09', text: prose(6) })).toBe('no');
    expect(await verdict({ ...local, seed: undefined })).toBe('no'); // a document generated without a seed
  });

  it('streams: documents go out in shards as they fill, with the hash of the whole corpus as one string', async () => {
    const store = new CountingStore();
    // Five shards show the order of reads and writes as well as thirty did, in a sixth of the time (30k
    // documents took about 10 s).
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const id = `u${String(Math.floor(i / 25)).padStart(4, '0')}-t${String(Math.floor(i / 5) % 5).padStart(2, '0')}-i${String(i % 5).padStart(2, '0')}`;
      store.objects.set(`corpus/big/docs/${id}.json`, JSON.stringify(doc(id, `document ${i} of a large corpus`)));
    }
    const m = await assembleCorpusFolder(
      store,
      { storeUri: store.rootUri, prefix: 'corpus/big' },
      { nearDuplicateThreshold: 1, truncated: 'drop' },
      () => undefined,
    );
    expect(m.documents).toBe(n);
    expect(m.shardKeys).toHaveLength(5);
    // Shard k is written once its 1000 documents are read, not after the whole corpus.
    expect(store.readsAtPut.slice(0, 5)).toEqual(Array.from({ length: 5 }, (_, k) => (k + 1) * 1000));
    // The same value the one-string assembly gave: sha256 of the kept lines joined by "\n".
    const whole = m.shardKeys.map((k) => store.objects.get(k)!).join('');
    expect(m.hash).toBe(sha256Hex(whole.slice(0, -1)));
  });
});

/** An in-memory store that counts document reads, to see when each shard is written. */
class CountingStore implements ArtifactStore {
  readonly rootUri = 'mem://test';
  readonly objects = new Map<string, string>();
  readonly readsAtPut: number[] = [];
  private reads = 0;
  uri = (key: string) => `${this.rootUri}/${key}`;
  exists = (key: string) => Promise.resolve(this.objects.has(key));
  get(key: string) {
    const v = this.objects.get(key);
    if (v === undefined) return Promise.reject(new Error(`absent: ${key}`));
    this.reads++;
    return Promise.resolve(Buffer.from(v));
  }
  put(key: string, data: Buffer | string) {
    if (key.includes('/shards/')) this.readsAtPut.push(this.reads);
    const text = data.toString();
    this.objects.set(key, text);
    return Promise.resolve({ uri: this.uri(key), key, sha256: sha256Hex(text), size: text.length });
  }
  list(prefix: string) {
    return Promise.resolve([...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort());
  }
  putFile = () => Promise.reject(new Error('not used'));
  getFile = () => Promise.reject(new Error('not used'));
  deletePrefix = () => Promise.reject(new Error('not used'));
}
