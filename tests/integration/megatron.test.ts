import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenizeActivities } from '../../src/activities/tokenize-activities';
import type { CorpusManifestRef, TokenizedRef } from '../../src/activities/types';
import { openStore } from '../../src/store/open-store';
import { decodeIndex } from '../../src/tokenize/megatron-index';
import { MegatronWriter } from '../../src/tokenize/megatron-writer';
import { tokenizePackCorpus } from '../../src/tokenize/pack-corpus';
import { readPacked } from '../../src/tokenize/packed-format';
import { loadTokenizer } from '../../src/tokenize/tokenizer';
import { PROJECT_ROOT, pythonExecutable } from '../../src/util/project-paths';
import { TINY_MODEL, tinyTrainManifest } from '../helpers/tiny-trainer-job';

/** Shared with trainer/tests/test_megatron.py, which checks the same bytes against the published layout. */
const FIXTURE = path.join(PROJECT_ROOT, 'trainer', 'tests', 'data', 'megatron-tiny');
const DOCS = [[5, 6, 7], [8], [9, 10, 11, 12, 13]];
const FIELDS = {
  tokenizer: 'qwen3' as const,
  tokenizerSha256: 'none',
  padId: 0,
  eosId: 1,
  vocabSize: 64,
  shuffleSeed: null,
  numDocuments: 3,
};

const dirs: string[] = [];
async function tempStore() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msm-megatron-test-'));
  dirs.push(dir);
  return openStore(dir);
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function write(docs: number[][], seqLen: number, chunkTokens?: number) {
  const store = await tempStore();
  const w = await MegatronWriter.create({ seqLen, chunkTokens });
  try {
    for (const d of docs) await w.appendDocument(d, 1);
    const r = await w.finish(store, 'out', { ...FIELDS, numDocuments: docs.length });
    return { store, r, bin: await store.get('out/tokens.bin'), idx: await store.get('out/tokens.idx') };
  } finally {
    await w.dispose();
  }
}

/** The .idx written field by field with a DataView, from Megatron-LM's layout (not from encodeIndex). */
function layout(sizes: number[]): Buffer {
  const s = sizes.length;
  const view = new DataView(new ArrayBuffer(34 + 12 * s + 8 * (s + 1)));
  [...'MMIDIDX'].forEach((c, i) => view.setUint8(i, c.charCodeAt(0))); // then two zero bytes
  view.setBigUint64(9, 1n, true); // version
  view.setUint8(17, 4); // int32
  view.setBigUint64(18, BigInt(s), true);
  view.setBigUint64(26, BigInt(s + 1), true);
  let o = 34;
  for (const n of sizes) {
    view.setInt32(o, n, true);
    o += 4;
  }
  let ptr = 0;
  for (const n of sizes) {
    view.setBigInt64(o, BigInt(ptr), true);
    o += 8;
    ptr += 4 * n;
  }
  for (let i = 0; i <= s; i++) {
    view.setBigInt64(o, BigInt(i), true);
    o += 8;
  }
  return Buffer.from(view.buffer);
}

describe('MegatronWriter', () => {
  it('writes the Megatron-LM MMapIndexedDataset layout byte for byte (the fixture the trainer test reads)', async () => {
    const { r, bin, idx, store } = await write(DOCS, 5, 2);
    expect(idx).toEqual(layout([4, 2, 6]));
    expect(idx).toEqual(await readFile(path.join(FIXTURE, 'tokens.idx')));
    expect(bin).toEqual(await readFile(path.join(FIXTURE, 'tokens.bin')));
    expect(bin).toEqual(Buffer.from(Int32Array.from([5, 6, 7, 1, 8, 1, 9, 10, 11, 12, 13, 1]).buffer));
    const manifest = JSON.parse((await store.get('out/manifest.json')).toString('utf8')) as Record<string, unknown>;
    expect(manifest).toEqual(JSON.parse(await readFile(path.join(FIXTURE, 'manifest.json'), 'utf8')));
    expect(r).toMatchObject({ numSequences: 3, numTokens: 12, numDocuments: 3 });

    const index = decodeIndex(idx, 'tokens.idx');
    expect([...index.sizes]).toEqual([4, 2, 6]);
    expect([...index.pointers]).toEqual([0n, 16n, 24n]);
    expect(() => decodeIndex(idx.subarray(0, idx.length - 1), 'x.idx')).toThrow(/x\.idx: not a Megatron .*\(101 bytes/);
    const { tokens, lengths } = await readPacked(store, r.manifestKey);
    expect([...tokens]).toEqual([5, 6, 7, 1, 8, 1, 9, 10, 11, 12, 13, 1, 0, 0, 0]);
    expect([...lengths!]).toEqual([5, 5, 2]);
  });

  it('writes the same bytes whatever the chunk size', async () => {
    let x = 7;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31), x);
    const docs = Array.from({ length: 50 }, () => Array.from({ length: rand() % 40 }, () => rand() % 1000));
    const shas = [];
    for (const chunk of [1, 7, undefined]) {
      const { r, bin, idx } = await write(docs, 16, chunk);
      shas.push([
        r.sha256,
        createHash('sha256').update(bin).digest('hex'),
        createHash('sha256').update(idx).digest('hex'),
      ]);
    }
    expect(shas[1]).toEqual(shas[0]);
    expect(shas[2]).toEqual(shas[0]);
  });
});

describe('tokenizePackCorpus on a long corpus', () => {
  it('keeps the event loop free (timers and heartbeats run) while it tokenizes', async () => {
    const store = await tempStore();
    const para = 'The spec explains why honesty matters, and how an assistant weighs it against kindness. ';
    const docs = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({ id: `d${i}`, text: `Doc ${i}. ${para.repeat(8 + (i % 17))}` }),
    );
    await store.put('c/0.jsonl', docs.slice(0, 1500).join('\n'));
    await store.put('c/1.jsonl', docs.slice(1500).join('\n'));
    await loadTokenizer('llama3.1'); // loading the vocabulary is a one-off per worker process, not part of this
    let last = performance.now();
    let worst = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 5);
    const beats: number[] = [];
    const t0 = performance.now();
    try {
      const r = await tokenizePackCorpus(store, {
        docKeys: ['c/0.jsonl', 'c/1.jsonl'],
        family: 'llama3.1',
        seqLen: 1024,
        outPrefix: 't',
        shuffleSeed: 1,
        onProgress: (d) => beats.push(d),
      });
      expect(r.numDocuments).toBe(3000);
    } finally {
      clearInterval(timer);
    }
    const took = performance.now() - t0;
    console.log(`tokenized 3000 documents in ${took.toFixed(0)} ms; longest event-loop stall ${worst.toFixed(0)} ms`);
    // ~0.6M tokens: encoding runs on the tokenizer's native threads, and control returns between batches.
    expect(beats).toHaveLength(Math.ceil(3000 / 256));
    expect(worst).toBeLessThan(Math.max(250, took / 4));
  });
});

describe('the trainer on a corpus this package tokenized', () => {
  it('midtrains one epoch over every row of the Megatron dataset (real tokenizer, real Python trainer)', async () => {
    const store = await tempStore();
    const docs = Array.from({ length: 30 }, (_, i) =>
      JSON.stringify({
        id: `d${i}`,
        text: `Document ${i}: honesty matters ${'because it keeps trust. '.repeat(1 + (i % 6))}`,
      }),
    );
    await store.put('c/0.jsonl', docs.join('\n') + '\n');
    const r = await tokenizePackCorpus(store, {
      docKeys: ['c/0.jsonl'],
      family: 'qwen2.5',
      seqLen: 32,
      outPrefix: 'tokens',
      shuffleSeed: 5,
    });
    const tok = await loadTokenizer('qwen2.5');
    const root = path.dirname(new URL(store.uri('x')).pathname);
    const job = {
      ...tinyTrainManifest(root, r.manifestUri, 'mm', { batchSize: 8 }),
      baseModel: { ...TINY_MODEL, vocabSize: tok.vocabSize },
    };
    const manifestPath = path.join(root, 'job.json');
    await writeFile(manifestPath, JSON.stringify(job));
    const run = spawnSync(pythonExecutable(), ['-m', 'msm_trainer', manifestPath], {
      cwd: path.join(PROJECT_ROOT, 'trainer'),
      encoding: 'utf8',
      env: { ...process.env, PYTHONPATH: path.join(PROJECT_ROOT, 'trainer'), MSM_TORCH_THREADS: '1' },
      timeout: 300_000,
    });
    const events = run.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { event: string; metrics?: Record<string, number> });
    expect(run.status, run.stderr.slice(-2000)).toBe(0);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.metrics).toMatchObject({
      examples: r.numSequences,
      tokens: r.numTokens,
      steps: Math.ceil(r.numSequences / 8),
    });
  }, 300_000);
});

describe('tokenizeCorpus activity', () => {
  it('heartbeats progress, returns the token-length stats, and stores the tokenizer with its config', async () => {
    const store = await tempStore();
    const docs = Array.from({ length: 600 }, (_, i) =>
      JSON.stringify({ id: `d${i}`, text: `Doc ${i}. ${'Values explain rules. '.repeat(1 + (i % 9))}` }),
    );
    await store.put('corpus/s0.jsonl', docs.join('\n') + '\n');
    const corpus: CorpusManifestRef = {
      manifestKey: 'corpus/m.json',
      hash: 'c0ffee'.repeat(4),
      documents: 600,
      duplicatesRemoved: 0,
      truncatedDropped: 0,
      truncated: 0,
      shardKeys: ['corpus/s0.jsonl'],
      documentUsage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
    };
    const opts = { family: 'qwen2.5' as const, seqLen: 128, shuffleSeed: 42 };
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const act = createTokenizeActivities().tokenizeCorpus;
    const ref: TokenizedRef = await env.run(act, store.rootUri, corpus, opts);
    expect(beats).toContainEqual({ done: 600, total: 600 });
    expect(ref.documentStats).toMatchObject({
      histogramUri: store.uri(`tokens/qwen2.5/corpus-${corpus.hash.slice(0, 16)}-L128-s42/token-lengths.svg`),
      summary: { documents: 600, totalTokens: ref.numTokens - 600 },
    });
    expect(ref.vocabSize).toBe(151665);
    const tokDir = ref.tokenizerUri.slice(0, ref.tokenizerUri.lastIndexOf('/'));
    const config = JSON.parse(
      (await store.get(`${tokDir.slice(store.rootUri.length + 1)}/tokenizer_config.json`)).toString('utf8'),
    ) as { chat_template: string };
    expect(config.chat_template).toContain('You are Qwen, created by Alibaba Cloud.');
    // What results.json records and msm compare checks: the hash the dataset and the tokenizer's folder carry.
    const manifest = JSON.parse(
      (await store.get(ref.manifestUri.slice(store.rootUri.length + 1))).toString('utf8'),
    ) as { tokenizerSha256: string };
    expect(ref.tokenizer).toEqual({ name: 'qwen2.5', sha256: manifest.tokenizerSha256 });
    expect(tokDir.endsWith(`/qwen2.5-${manifest.tokenizerSha256.slice(0, 16)}`)).toBe(true);
    expect(await new MockActivityEnvironment().run(act, store.rootUri, corpus, opts)).toEqual(ref);
  });
});
