/**
 * Tokenize + pack throughput against the raw tokenizer on the same corpus, side by side in one run:
 * the ratio (goal >= 0.8) says what reading shards, shuffling, packing and writing the indexed files
 * cost on top of `encodeBatch` itself (Megatron .bin + .idx, per-document counts, summary, histogram).
 *   npm run bench -- tokenize [--docs 4000] [--rounds 3] [--family llama3.1|qwen2.5|qwen3]
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../src/store/open-store';
import { tokenizePackCorpus } from '../src/tokenize/pack-corpus';
import { loadTokenizer, type TokenizerFamily } from '../src/tokenize/tokenizer';
import { PROJECT_ROOT } from '../src/util/project-paths';

/** Documents of realistic prose: paragraphs of this repo's specs, recombined by a seeded generator. */
function corpus(n: number): { id: string; text: string }[] {
  const specs = path.join(PROJECT_ROOT, 'specs');
  const paras = readdirSync(specs)
    .flatMap((f) => readFileSync(path.join(specs, f), 'utf8').split(/\n\s*\n/))
    .map((p) => p.trim())
    .filter((p) => p.length > 40);
  let s = 42;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
  return Array.from({ length: n }, (_, i) => {
    const k = 4 + Math.floor(rand() * 12);
    const text = Array.from({ length: k }, () => paras[Math.floor(rand() * paras.length)]).join('\n\n');
    return { id: `d${String(i).padStart(6, '0')}`, text: `Document ${i}.\n\n${text}` };
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      docs: { type: 'string', default: '4000' },
      rounds: { type: 'string', default: '3' },
      family: { type: 'string', default: 'llama3.1' },
    },
  });
  const family = values.family as TokenizerFamily;
  const docs = corpus(Number(values.docs));
  const rounds = Number(values.rounds);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msm-bench-tok-'));
  try {
    const store = openStore(dir);
    const SHARD = 1000;
    const docKeys: string[] = [];
    for (let i = 0; i * SHARD < docs.length; i++) {
      const key = `corpus/shards/docs-${i}.jsonl`;
      await store.put(
        key,
        docs
          .slice(i * SHARD, (i + 1) * SHARD)
          .map((d) => JSON.stringify(d))
          .join('\n') + '\n',
      );
      docKeys.push(key);
    }
    const tok = await loadTokenizer(family);
    const texts = docs.map((d) => d.text);
    await tok.encodeBatch(texts.slice(0, 64)); // warm up the native threads

    const raw: number[] = [];
    const full: number[] = [];
    let tokens = 0;
    for (let r = 0; r < rounds; r++) {
      // Alternate the two within each round so drift on a noisy machine hits both alike.
      let t0 = performance.now();
      let n = 0;
      for (let i = 0; i < texts.length; i += 256)
        for (const ids of await tok.encodeBatch(texts.slice(i, i + 256))) n += ids.length + 1;
      raw.push(n / ((performance.now() - t0) / 1000));
      tokens = n;
      t0 = performance.now();
      const packed = await tokenizePackCorpus(store, {
        docKeys,
        family,
        seqLen: 2048,
        outPrefix: `tokens/round-${r}`,
        shuffleSeed: 42,
      });
      full.push(packed.numTokens / ((performance.now() - t0) / 1000));
    }
    const rawTps = median(raw);
    const fullTps = median(full);
    const ratio = fullTps / rawTps;
    console.log(`corpus: ${docs.length} documents, ${tokens} tokens (${family}), ${rounds} rounds`);
    console.log(`raw encodeBatch:        ${Math.round(rawTps).toLocaleString()} tokens/s (median)`);
    console.log(`tokenize+pack (store):  ${Math.round(fullTps).toLocaleString()} tokens/s (median)`);
    console.log(`ratio: ${ratio.toFixed(3)} (goal >= 0.8)`);
    console.log(
      JSON.stringify({
        bench: 'tokenize',
        family,
        docs: docs.length,
        tokens,
        rawTokensPerSec: Math.round(rawTps),
        packTokensPerSec: Math.round(fullTps),
        ratio: Number(ratio.toFixed(3)),
        goal: 0.8,
        pass: ratio >= 0.8,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
