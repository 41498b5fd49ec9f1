/**
 * Data by reference: hf:<org>/<name>[@revision][:split] read from a Hugging Face cache fixture built here
 * (the layout huggingface_hub writes: datasets--org--name/{refs,snapshots}), JSONL and Parquet; nothing
 * reaches the Hub. Parquet is read with pyarrow in a Python process, hence this lane.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeExperimentFiles } from '../../src/config/frozen-inputs';
import { parseExperiment } from '../../src/config/experiment-schema';
import { readHfData, resolveHfDataRef, parseHfDataRef } from '../../src/data/hf-data';
import { checkExperiment } from '../../src/experiment/check-experiment';
import { openStore } from '../../src/store/open-store';
import { sha256Hex } from '../../src/util/hash';
import { PROJECT_ROOT, pythonExecutable } from '../../src/util/project-paths';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'msm-hf-data-'));
const cache = path.join(tmp, 'hub');
const AFT_COMMIT = 'a'.repeat(40);
const EVAL_COMMIT = 'b'.repeat(40);
const DEMO = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'experiments/demo.json'), 'utf8')) as Record<
  string,
  unknown
>;
const aftText = readFileSync(path.join(PROJECT_ROOT, 'experiments/data/demo-aft.jsonl'), 'utf8');
const evalText = readFileSync(path.join(PROJECT_ROOT, 'experiments/data/demo-eval.jsonl'), 'utf8');
const rows = (t: string) =>
  t
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);

/** A cached dataset snapshot: refs/<name> -> commit, files under snapshots/<commit>/. */
function cached(repo: string, commit: string, refs: string[], files: Record<string, string>) {
  const dir = path.join(cache, `datasets--${repo.replace('/', '--')}`);
  for (const r of refs) {
    mkdirSync(path.join(dir, 'refs'), { recursive: true });
    writeFileSync(path.join(dir, 'refs', r), commit);
  }
  for (const [rel, text] of Object.entries(files)) {
    const f = path.join(dir, 'snapshots', commit, rel);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, text);
  }
  return path.join(dir, 'snapshots', commit);
}

/** Write JSONL rows as a Parquet file with pyarrow (what datasets' Hub conversion writes). */
function toParquet(jsonl: string, out: string) {
  const code = `
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
pq.write_table(pa.Table.from_pylist(rows), sys.argv[2])`;
  const src = `${out}.src.jsonl`;
  writeFileSync(src, jsonl);
  const r = spawnSync(pythonExecutable(), ['-c', code, src, out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pyarrow failed: ${r.stderr}`);
  rmSync(src);
}

const saved = process.env.HF_HUB_CACHE;
beforeAll(() => {
  process.env.HF_HUB_CACHE = cache;
  // AFT data as the Hub's Parquet conversion lays it out; the eval set as JSONL splits at a tag.
  const snap = cached('msm-test/aft-demo', AFT_COMMIT, ['main'], {});
  mkdirSync(path.join(snap, 'data'), { recursive: true });
  toParquet(aftText, path.join(snap, 'data', 'train-00000-of-00001.parquet'));
  cached('msm-test/eval-demo', EVAL_COMMIT, ['main', 'v1'], {
    'data/test.jsonl': evalText,
    'data/train.jsonl': evalText.split('\n')[0] + '\n',
    'README.md': '# not data\n',
  });
});
afterAll(() => {
  if (saved === undefined) delete process.env.HF_HUB_CACHE;
  else process.env.HF_HUB_CACHE = saved;
  rmSync(tmp, { recursive: true, force: true });
});

describe('hf: data references', () => {
  it('parses repo, revision and split, with main and train as defaults', () => {
    expect(parseHfDataRef('hf:org/name', 'aft.data')).toEqual({ repo: 'org/name', revision: 'main', split: 'train' });
    expect(parseHfDataRef('hf:org/name@v1.2:test', 'x')).toEqual({ repo: 'org/name', revision: 'v1.2', split: 'test' });
    expect(() => parseHfDataRef('hf:name-only', 'aft.data')).toThrow(
      /aft\.data: hf:name-only is not .* hf:<org>\/<name>/,
    );
  });

  it('reads a split from the cache by ref or commit; Parquet rows come back as the JSONL they were', () => {
    expect(rows(readHfData('hf:msm-test/aft-demo', 'aft.data'))).toEqual(rows(aftText));
    expect(readHfData(`hf:msm-test/eval-demo@v1:test`, 'eval.prompts')).toBe(evalText);
    expect(readHfData(`hf:msm-test/eval-demo@${EVAL_COMMIT}:test`, 'eval.prompts')).toBe(evalText);
    expect(readHfData('hf:msm-test/eval-demo', 'eval.prompts')).toBe(evalText.split('\n')[0] + '\n');
    expect(resolveHfDataRef(parseHfDataRef('hf:msm-test/eval-demo:test', 'x'), 'x').commit).toBe(EVAL_COMMIT);
  });

  it('names what is missing from the cache and how to fetch it', () => {
    expect(() => readHfData('hf:msm-test/absent', 'aft.mix.data')).toThrow(
      /aft\.mix\.data: dataset msm-test\/absent is not in the Hugging Face cache .*downloads nothing.*huggingface-cli download --repo-type dataset msm-test\/absent\)/,
    );
    expect(() => readHfData('hf:msm-test/eval-demo@v9', 'eval.prompts')).toThrow(
      /revision v9 of dataset msm-test\/eval-demo is not in the Hugging Face cache.*--revision v9/,
    );
    expect(() => readHfData('hf:msm-test/eval-demo:validation', 'eval.prompts')).toThrow(
      /has no validation split .*\(its splits: test, train\); name one as hf:msm-test\/eval-demo:<split>/,
    );
  });

  it('an experiment checks and freezes hf: data like files: the content read is what is hashed', async () => {
    const raw = {
      ...DEMO,
      aft: { ...(DEMO.aft as object), data: 'hf:msm-test/aft-demo' },
      eval: { ...(DEMO.eval as object), prompts: 'hf:msm-test/eval-demo@v1:test' },
    };
    const checked = await checkExperiment(raw, 'hf-demo');
    expect(checked.aft?.examples).toBe(rows(aftText).length);
    const local = await checkExperiment(DEMO, 'demo');
    expect(checked.evalSet.text).toBe(local.evalSet.text);

    const store = openStore(path.join(tmp, 'store'));
    const x = parseExperiment(raw, 'hf-demo');
    const frozen = await freezeExperimentFiles(x, PROJECT_ROOT, store, { now: new Date(0) });
    expect(frozen['hf:msm-test/eval-demo@v1:test'].sha256).toBe(sha256Hex(evalText));
    expect(frozen['hf:msm-test/aft-demo'].sha256).toBe(sha256Hex(readHfData('hf:msm-test/aft-demo', 'aft.data')));
    // A missing reference is refused before anything starts, with the field named.
    const bad = { ...raw, aft: { ...(DEMO.aft as object), data: 'hf:msm-test/absent' } };
    await expect(checkExperiment(bad, 'bad')).rejects.toThrow(
      /aft\.data: dataset msm-test\/absent is not in the Hugging Face cache/,
    );
  });

  it('a local Parquet file reads as JSONL too', async () => {
    const file = path.join(PROJECT_ROOT, '.msm', `hf-data-test-${process.pid}.parquet`);
    mkdirSync(path.dirname(file), { recursive: true });
    toParquet(aftText, file);
    try {
      const raw = { ...DEMO, aft: { ...(DEMO.aft as object), data: path.relative(PROJECT_ROOT, file) } };
      const checked = await checkExperiment(raw, 'parquet-demo');
      expect(rows(checked.aft!.text)).toEqual(rows(aftText));
    } finally {
      rmSync(file, { force: true });
    }
  });
});
