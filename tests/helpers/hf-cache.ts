import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A Hugging Face hub cache holding one dataset as huggingface_hub lays it out (datasets--org--name with
 * refs/main -> commit and the files under snapshots/<commit>/), for tests that validate an experiment whose
 * data is an hf: reference without the real dataset on the machine. Returns the cache folder (HF_HUB_CACHE).
 */
export function fakeHfCache(repo: string, files: Record<string, string>): string {
  const cache = mkdtempSync(path.join(os.tmpdir(), 'msm-hf-cache-'));
  const commit = 'f'.repeat(40);
  const dir = path.join(cache, `datasets--${repo.replace('/', '--')}`);
  mkdirSync(path.join(dir, 'refs'), { recursive: true });
  writeFileSync(path.join(dir, 'refs', 'main'), commit);
  for (const [rel, text] of Object.entries(files)) {
    const f = path.join(dir, 'snapshots', commit, rel);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, text);
  }
  return cache;
}

/** `n` chat rows shaped like an instruction-tuning set's (a system turn on some, then user and assistant). */
export function instructionRows(n: number): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      prompt_id: `p${i}`,
      messages: [
        ...(i % 3 === 0 ? [{ role: 'system', content: 'You are a helpful assistant.' }] : []),
        { role: 'user', content: `Write a short note about topic ${i}.` },
        { role: 'assistant', content: `Here is a short note about topic ${i}.` },
      ],
      category: 'Generation',
    }),
  ).join('\n');
}
