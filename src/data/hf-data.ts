import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pythonExecutable } from '../util/project-paths';

/**
 * Data by reference: a data path (aft.data, aft.reasoningData, aft.mix.data, eval.prompts, a capability's
 * questions) may be `hf:<org>/<name>[@revision][:split]`, a dataset in the Hugging Face cache of the machine
 * that reads it, and a local or cached file may be Parquet as well as JSONL. Nothing is downloaded: the cache
 * is read as huggingface_hub lays it out offline (HF_HUB_OFFLINE), and the rows become JSONL text that is then
 * hashed and frozen like any file's (src/config/frozen-inputs.ts).
 */
export class DataRefError extends Error {
  override name = 'DataRefError';
}

export interface HfDataRef {
  repo: string;
  revision: string;
  split: string;
}

const REF = /^hf:([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?:@([\w.-]+))?(?::([\w.-]+))?$/;

export const isHfRef = (p: string): boolean => p.startsWith('hf:');

/** The parts of an hf: data reference; revision defaults to main, split to train. */
export function parseHfDataRef(ref: string, field: string): HfDataRef {
  const m = REF.exec(ref);
  if (!m)
    throw new DataRefError(
      `${field}: ${ref} is not a Hugging Face dataset reference: write hf:<org>/<name>, optionally with @<revision> and :<split> (hf:org/name@main:train)`,
    );
  return { repo: m[1], revision: m[2] ?? 'main', split: m[3] ?? 'train' };
}

/** The hub cache folder as huggingface_hub finds it: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hfHubCache(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  return path.join(env.HF_HOME ?? path.join(os.homedir(), '.cache', 'huggingface'), 'hub');
}

/**
 * A repo's snapshot folder in the cache at a revision (a ref such as main or a tag, or a commit). `files`:
 * what the download command in the message fetches (a model's tokenizer files; a dataset: everything).
 */
export function cachedSnapshot(
  kind: 'dataset' | 'model',
  repo: string,
  revision: string,
  field: string,
  env: NodeJS.ProcessEnv = process.env,
  files = '',
): { commit: string; snapshot: string } {
  const cache = hfHubCache(env);
  const repoDir = path.join(cache, `${kind}s--${repo.replace('/', '--')}`);
  const type = kind === 'dataset' ? ' --repo-type dataset' : '';
  const fetch = `fetch it once where the cache is (huggingface-cli download${type} ${repo}${revision === 'main' ? '' : ` --revision ${revision}`}${files}), or point HF_HUB_CACHE / HF_HOME at a cache that has it`;
  if (!existsSync(repoDir))
    throw new DataRefError(
      `${field}: ${kind} ${repo} is not in the Hugging Face cache ${cache} (msm reads the cache and downloads nothing): ${fetch}`,
    );
  const refFile = path.join(repoDir, 'refs', revision);
  const commit = /^[0-9a-f]{40}$/.test(revision)
    ? revision
    : existsSync(refFile)
      ? readFileSync(refFile, 'utf8').trim()
      : undefined;
  const snapshot = commit ? path.join(repoDir, 'snapshots', commit) : undefined;
  if (!commit || !snapshot || !existsSync(snapshot))
    throw new DataRefError(
      `${field}: revision ${revision} of ${kind} ${repo} is not in the Hugging Face cache ${cache}: ${fetch}`,
    );
  return { commit, snapshot };
}

/** The cached snapshot folder of a model given as hf:<org>/<name>[@revision] (baseModel.path), for its tokenizer files. */
export function cachedModelFolder(ref: string, field: string, env: NodeJS.ProcessEnv = process.env): string {
  const m = /^hf:([A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*)(?:@([\w./-]+))?$/.exec(ref);
  if (!m) throw new DataRefError(`${field}: ${ref} is not hf:<org>/<name>[@revision]`);
  return cachedSnapshot(
    'model',
    m[1],
    m[2] ?? 'main',
    field,
    env,
    ' tokenizer.json tokenizer_config.json chat_template.jinja',
  ).snapshot;
}

const DATA_EXT = /\.(jsonl|parquet)$/i;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    // Snapshot entries are links into blobs/: follow them.
    if (e.isDirectory() || (e.isSymbolicLink() && statSync(p).isDirectory())) return walk(p);
    return [p];
  });
}

/** Which split a data file holds, by Hub naming: train.jsonl, data/train-00000-of-00002.parquet, train/0.jsonl. */
function splitOf(rel: string): string {
  const parts = rel.split('/');
  const base = parts[parts.length - 1].replace(DATA_EXT, '');
  const m = /^([\w.]+?)(-\d{5}-of-\d{5})?$/.exec(base);
  const named = m ? m[1] : base;
  // Files named only by number sit in a folder named by the split.
  return /^\d+$/.test(named) && parts.length > 1 ? parts[parts.length - 2] : named;
}

/**
 * The data files of a cached dataset's split, sorted, and the commit they are from. A repo or revision not
 * in the cache is refused with the command that fetches it.
 */
export function resolveHfDataRef(
  ref: HfDataRef,
  field: string,
  env: NodeJS.ProcessEnv = process.env,
): { commit: string; files: string[] } {
  const { commit, snapshot } = cachedSnapshot('dataset', ref.repo, ref.revision, field, env);
  const data = walk(snapshot)
    .map((f) => path.relative(snapshot, f).split(path.sep).join('/'))
    .filter((r) => DATA_EXT.test(r))
    .sort();
  const files = data.filter((r) => splitOf(r) === ref.split);
  if (files.length === 0) {
    const splits = [...new Set(data.map(splitOf))];
    throw new DataRefError(
      `${field}: dataset ${ref.repo}@${commit.slice(0, 12)} has no ${ref.split} split in .jsonl or .parquet files` +
        (splits.length
          ? ` (its splits: ${splits.join(', ')}); name one as hf:${ref.repo}:<split>`
          : '; msm reads JSONL and Parquet data files'),
    );
  }
  // Parquet and JSONL copies of one split (the Hub's parquet conversion beside the original): the JSONL.
  const jsonl = files.filter((f) => f.toLowerCase().endsWith('.jsonl'));
  return { commit, files: (jsonl.length ? jsonl : files).map((r) => path.join(snapshot, r)) };
}

const PY_PARQUET = `
import json, sys
import pyarrow.parquet as pq
for row in pq.read_table(sys.argv[1]).to_pylist():
    sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\\n")`;

/** A Parquet file's rows as JSONL text (one object per row), read with pyarrow in the trainer's venv. */
export function parquetToJsonl(file: string, field: string): string {
  const py = pythonExecutable();
  const r = spawnSync(py, ['-c', PY_PARQUET, file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0)
    throw new DataRefError(
      `${field}: cannot read Parquet file ${file} (${(r.stderr || String(r.error)).trim().split('\n').pop()}); msm reads Parquet with pyarrow in ${py}: run scripts/setup.sh or set MSM_PYTHON`,
    );
  return r.stdout;
}

/** A data file's text as JSONL: Parquet converted, anything else as it is. */
export function dataFileText(file: string, field: string): string {
  if (/\.parquet$/i.test(file)) return parquetToJsonl(file, field);
  return readFileSync(file, 'utf8');
}

/** The JSONL text of an hf: reference: its split's files in name order, one record per line. */
export function readHfData(refText: string, field: string, env: NodeJS.ProcessEnv = process.env): string {
  const { files } = resolveHfDataRef(parseHfDataRef(refText, field), field, env);
  return files
    .map((f) => {
      const t = dataFileText(f, field);
      return t.length === 0 || t.endsWith('\n') ? t : `${t}\n`;
    })
    .join('');
}
