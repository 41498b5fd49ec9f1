import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseEvalSet, type EvalLine } from '../eval/eval-set';
import { ownSuiteBundle, type InspectBundle } from '../eval/inspect/own-suite-log';
import type { Judgment } from '../eval/judge-sample';
import { keyOfUri } from '../eval/judgments';
import type { Results } from '../report/results-types';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson } from '../store/json';
import { openStore } from '../store/open-store';
import { contentId, sha256Hex } from '../util/hash';
import { PROJECT_ROOT, pythonExecutable } from '../util/project-paths';

/**
 * `msm inspect-logs <results.json> [--out <dir>]`: an Inspect log (.eval) for every cell and control evaluated
 * with msm's own suite, so Inspect View and inspect_ai.analysis read them like an Inspect task's logs. Reads the
 * finished run's records from its store (no Temporal); the trainer's Python writes each log with inspect_ai's
 * own types (trainer/msm_trainer/inspect_export.py). A log is made again only when what it shows changed.
 */
export async function inspectLogsCommand(
  results: string | undefined,
  opts: { out?: string } = {},
  print: (line: string) => void = console.log,
): Promise<string[]> {
  if (!results) throw new Error('usage: msm inspect-logs <results.json path or URI> [--out <dir>]');
  const resultsUri = /^[a-z][a-z0-9+.-]*:\/\//i.test(results) ? results : pathToFileURL(path.resolve(results)).href;
  const run = await readResults(resultsUri);
  const store = openStore(storeRootOf(resultsUri, run));
  const lines = await evalSetOf(store, run);
  const written: string[] = [];
  const dirs = new Set<string>();
  for (const target of targetsOf(run)) {
    if (target.eval.logsUri) {
      print(`${target.id}: evaluated by an Inspect task, its own logs are at ${target.eval.logsUri}`);
      continue;
    }
    const bundle = await bundleOf(store, run, target, lines);
    const place = placeOf(store, target, opts.out);
    const fresh = await writeLog(place, bundle);
    const where = localOrUri(place.store.uri(place.key));
    print(`${target.id}: ${where}${fresh ? '' : ' (unchanged, kept)'}`);
    written.push(where);
    dirs.add(where.slice(0, where.lastIndexOf('/')));
  }
  for (const dir of dirs) print(`inspect view --log-dir ${dir}`);
  return written;
}

/** A cell or control of the run: what its log is named and what it shows. */
interface Target {
  id: string;
  modelUri: string | null;
  eval: Results['cells'][number]['eval'];
}

const targetsOf = (run: Results): Target[] => [...run.cells, ...run.controls];

async function readResults(uri: string): Promise<Results> {
  const cut = uri.lastIndexOf('/');
  const folder = openStore(uri.slice(0, cut));
  const run = await readJson<Results>(folder, decodeURIComponent(uri.slice(cut + 1)));
  if (run.format !== 'msm-results-v4')
    throw new Error(`${uri}: not an msm results.json (format ${JSON.stringify(run.format)}, expected msm-results-v4)`);
  return run;
}

/** The run's store: msm writes results.json at <store>/experiments/<workflow id>/report/results.json. */
function storeRootOf(resultsUri: string, run: Results): string {
  const suffix = `/experiments/${run.experiment.workflowId}/report/results.json`;
  if (!resultsUri.endsWith(suffix))
    throw new Error(
      `${resultsUri}: give the results.json inside the run's store (<store>${suffix}): the samples and the eval set are read from that store`,
    );
  return resultsUri.slice(0, -suffix.length);
}

/** The eval set as the run stored it (inputs/eval-<sha256 prefix>.jsonl), checked against its recorded hash. */
async function evalSetOf(store: ArtifactStore, run: Results): Promise<EvalLine[]> {
  const set = run.lineage.evalSet;
  if (!set) throw new Error(`${run.experiment.workflowId}: its results.json records no eval set (lineage.evalSet)`);
  const key = `inputs/eval-${set.sha256.slice(0, 16)}.jsonl`;
  if (!(await store.exists(key)))
    throw new Error(`${store.uri(key)}: the run's eval set is not in its store; the prompts cannot be shown`);
  const text = (await store.get(key)).toString('utf8');
  if (sha256Hex(text) !== set.sha256)
    throw new Error(`${store.uri(key)}: its sha256 is not lineage.evalSet.sha256 ${set.sha256}: the file was changed`);
  return parseEvalSet(text, store.uri(key));
}

function keyOf(store: ArtifactStore, uri: string | undefined, what: string, id: string): string {
  const key = uri && keyOfUri(store, uri);
  if (!key)
    throw new Error(`${id}: its ${what} (${uri ?? 'none recorded'}) is not in the run's store ${store.rootUri}`);
  return key;
}

async function bundleOf(store: ArtifactStore, run: Results, t: Target, lines: EvalLine[]): Promise<InspectBundle> {
  const samplesKey = keyOf(store, t.eval.samplesUri, 'samples', t.id);
  const prefix = keyOf(store, t.eval.judgmentsUri, 'judgments', t.id);
  const judgmentKeys = (await store.list(`${prefix}/`)).filter((k) => k.endsWith('.json'));
  const judgments = await Promise.all(judgmentKeys.map((k) => readJson<Judgment>(store, k)));
  return ownSuiteBundle({
    task: `msm/${run.experiment.name}`,
    model: t.modelUri ?? run.lineage.baseModel,
    cell: t.id,
    // The run's time, not now: the same records give the same bundle, so an unchanged log is kept.
    createdAt: run.generatedAt,
    evalSet: { sha256: run.lineage.evalSet!.sha256, prompts: run.lineage.evalSet!.prompts },
    judgeModel: t.eval.judgeModel,
    samplesText: (await store.get(samplesKey)).toString('utf8'),
    samplesSource: t.eval.samplesUri,
    judgments,
    lines,
  });
}

/** Where a log goes: beside the cell's samples (<eval folder>/inspect-logs/<id>.eval), or in --out. */
function placeOf(store: ArtifactStore, t: Target, out: string | undefined): { store: ArtifactStore; key: string } {
  if (out) return { store: openStore(out), key: `${t.id}.eval` };
  const samplesKey = keyOf(store, t.eval.samplesUri, 'samples', t.id);
  // samples live at <eval folder>/samples/samples.jsonl
  const folder = path.posix.dirname(path.posix.dirname(samplesKey));
  return { store, key: `${folder}/inspect-logs/${t.id}.eval` };
}

/**
 * Writes the log unless the one there was made from the same bundle (its hash is kept beside it, in a file
 * Inspect View does not list). Returns whether it wrote.
 */
async function writeLog(place: { store: ArtifactStore; key: string }, bundle: InspectBundle): Promise<boolean> {
  const hash = contentId(bundle);
  const hashKey = `${place.key}.bundle-sha256`;
  const kept =
    (await place.store.exists(place.key)) &&
    (await place.store.exists(hashKey)) &&
    (await place.store.get(hashKey)).toString('utf8').trim() === hash;
  if (kept) return false;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'msm-inspect-log-'));
  try {
    await writeFile(path.join(tmp, 'bundle.json'), JSON.stringify(bundle));
    await exportLog(path.join(tmp, 'bundle.json'), path.join(tmp, 'log.eval'), bundle.cell);
    await place.store.putFile(place.key, path.join(tmp, 'log.eval'));
    await place.store.put(hashKey, `${hash}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return true;
}

const run = promisify(execFile);

/** The trainer's Python writes the log (inspect_ai is installed there, not in Node). */
async function exportLog(bundlePath: string, outPath: string, cell: string): Promise<void> {
  const python = pythonExecutable();
  try {
    await run(python, ['-m', 'msm_trainer.inspect_export', bundlePath, outPath], {
      cwd: path.join(PROJECT_ROOT, 'trainer'),
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `${cell}: the trainer's Python (${python}) could not write the Inspect log: ${(err.stderr || err.message).trim()}\n` +
        '(it needs inspect_ai: run scripts/setup.sh, or set MSM_PYTHON to an interpreter that has it)',
    );
  }
}

const localOrUri = (uri: string) => (uri.startsWith('file://') ? fileURLToPath(uri) : uri);
