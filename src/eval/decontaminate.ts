import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { corpusWithout } from '../corpus/assemble';
import type { CorpusDocument, CorpusManifestRef } from '../corpus/types';
import type { ArtifactStore } from '../store/artifact-store';
import { readJson, writeJson } from '../store/json';
import { contentId, sha256Hex } from '../util/hash';
import {
  calibrationItems,
  chatItems,
  EvalIndex,
  evalSetItems,
  examplesOf,
  failMessage,
  MINHASH_THRESHOLD,
  NGRAM,
  TrainingCheck,
  withoutLines,
  type ContaminationMatch,
  type ContaminationSummary,
  type DecontaminateMode,
  type TextItem,
} from './contamination';
import { CALIBRATION_DIR } from './judge-calibration';

/** A stored chat JSONL file as the workflow carries it. */
export interface ChatFileRef {
  key: string;
  sha256: string;
  examples: number;
}

export interface DecontaminateRequest {
  mode: DecontaminateMode;
  /** The eval set as stored (the split the experiment evaluates). */
  evalSet: { key: string; sha256: string };
  corpus: CorpusManifestRef;
  /** The AFT data, and the with-reasoning file with the same examples when arms train on it. */
  aft: { data: ChatFileRef; withReasoning?: ChatFileRef };
}

export interface DecontaminateResult {
  /** The corpus to train on: the assembled one, or (drop) the one without the flagged documents. */
  corpus: CorpusManifestRef;
  aft: { data: ChatFileRef; withReasoning?: ChatFileRef };
  summary: ContaminationSummary;
}

/** eval.decontaminate: fail, with flagged items: the message names them and the fix. */
export class ContaminationError extends Error {
  override name = 'ContaminationError';
}

/** The shipped judge-calibration sets (every kind: the judge may be calibrated on any of them). */
type CalibrationSets = { items: TextItem[]; sha256: string; index?: EvalIndex };
let calibration: CalibrationSets | undefined;
export function calibrationSetItems(dir = CALIBRATION_DIR): CalibrationSets {
  if (dir === CALIBRATION_DIR && calibration) return calibration;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort();
  const texts = files.map((f) => readFileSync(path.join(dir, f), 'utf8'));
  const out: CalibrationSets = {
    items: files.flatMap((f, i) => calibrationItems(texts[i], f.replace(/\.jsonl$/, ''))),
    sha256: sha256Hex(files.map((f, i) => `${f}\n${sha256Hex(texts[i])}`).join('\n')),
  };
  if (dir === CALIBRATION_DIR) calibration = out;
  return out;
}

/** The calibration sets' index, built once per process (a few seconds: about a thousand long texts). */
export function calibrationIndex(): EvalIndex {
  const cal = calibrationSetItems();
  return (cal.index ??= new EvalIndex(cal.items));
}

/** One shard's documents at a time: a large corpus is never held in memory whole. */
async function checkCorpus(store: ArtifactStore, corpus: CorpusManifestRef, check: TrainingCheck): Promise<void> {
  for (const key of corpus.shardKeys) {
    const lines = (await store.get(key)).toString('utf8').split('\n');
    check.add(
      lines
        .filter((l) => l.trim())
        .map((l) => {
          const doc = JSON.parse(l) as CorpusDocument;
          return { source: 'corpus', id: doc.id, texts: [doc.text] };
        }),
    );
  }
}

const text = async (store: ArtifactStore, key: string) => (await store.get(key)).toString('utf8');

/**
 * The overlap check at assembly: the corpus and the AFT data against the eval set and the calibration
 * sets. warn keeps everything, drop writes the corpus and AFT files without the flagged items, fail
 * throws ContaminationError when anything overlaps. The full list of flagged items is stored beside the
 * summary (`detailsKey`); the result is stored too, so a retry reads it back.
 */
export async function decontaminate(
  store: ArtifactStore,
  req: DecontaminateRequest,
  onItem: (checked: number) => void = () => {},
): Promise<DecontaminateResult> {
  const cal = calibrationSetItems();
  const id = contentId({
    v: 1,
    mode: req.mode,
    ngram: NGRAM,
    threshold: MINHASH_THRESHOLD,
    eval: req.evalSet.sha256,
    calibration: cal.sha256,
    corpus: req.corpus.hash,
    aft: req.aft.data.sha256,
    reasoning: req.aft.withReasoning?.sha256 ?? null,
  });
  const folder = `decontamination/${id}`;
  const resultKey = `${folder}/result.json`;
  if (await store.exists(resultKey)) {
    const stored = await readJson<DecontaminateResult & { flagged: ContaminationMatch[] }>(store, resultKey);
    if (req.mode === 'fail' && stored.flagged.length)
      throw new ContaminationError(failMessage(stored.flagged, stored.summary));
    return { corpus: stored.corpus, aft: stored.aft, summary: stored.summary };
  }

  const indexes = [new EvalIndex(evalSetItems(await text(store, req.evalSet.key))), calibrationIndex()];
  const aftText = await text(store, req.aft.data.key);
  const reasoning = req.aft.withReasoning;
  const reasoningText = reasoning && reasoning.key !== req.aft.data.key ? await text(store, reasoning.key) : undefined;
  const check = new TrainingCheck(indexes, onItem);
  await checkCorpus(store, req.corpus, check);
  check.add(chatItems(aftText, 'aft'));
  if (reasoningText !== undefined) check.add(chatItems(reasoningText, 'aft-reasoning'));
  const { flagged, counts } = check;
  const summary: ContaminationSummary = {
    mode: req.mode,
    ngram: NGRAM,
    minhashThreshold: MINHASH_THRESHOLD,
    evalItems: Object.assign({}, ...indexes.map((i) => i.counts)) as Record<string, number>,
    training: counts,
    examples: examplesOf(flagged),
    dropped: {},
    detailsKey: `${folder}/flagged.json`,
  };
  await writeJson(store, summary.detailsKey!, flagged);

  let corpus = req.corpus;
  let aft = req.aft;
  if (req.mode === 'drop' && flagged.length)
    ({ corpus, aft } = await dropFlagged(store, req, folder, flagged, summary));
  const result: DecontaminateResult = { corpus, aft, summary };
  await writeJson(store, resultKey, { ...result, flagged });
  if (req.mode === 'fail' && flagged.length) throw new ContaminationError(failMessage(flagged, summary));
  return result;
}

/** drop: the corpus without its flagged documents; both AFT files without any flagged example's line. */
async function dropFlagged(
  store: ArtifactStore,
  req: DecontaminateRequest,
  folder: string,
  flagged: ContaminationMatch[],
  summary: ContaminationSummary,
): Promise<Pick<DecontaminateResult, 'corpus' | 'aft'>> {
  const docs = new Set(flagged.filter((m) => m.training.source === 'corpus').map((m) => m.training.id));
  const corpus = docs.size ? await corpusWithout(store, req.corpus, docs, `${folder}/corpus`) : req.corpus;
  if (docs.size) summary.dropped.corpus = docs.size;
  // The two AFT files hold the same examples in the same order: an example flagged in either leaves both.
  const lines = new Set(
    flagged.flatMap((m) =>
      m.training.source.startsWith('aft') && m.training.line !== undefined ? [m.training.line] : [],
    ),
  );
  if (!lines.size) return { corpus, aft: req.aft };
  summary.dropped.aft = lines.size;
  const rewrite = async (file: ChatFileRef, name: string): Promise<ChatFileRef> => {
    const { text: kept, kept: examples } = withoutLines(await text(store, file.key), lines);
    if (!examples)
      throw new ContaminationError(
        `every AFT example overlaps the evaluation data, so eval.decontaminate: "drop" left none: ` +
          'check the AFT data (or aft.generate) against the eval set, or set eval.decontaminate: "warn"',
      );
    const key = `${folder}/${name}.jsonl`;
    await store.put(key, kept);
    return { key, sha256: sha256Hex(kept), examples };
  };
  const data = await rewrite(req.aft.data, 'aft');
  const w = req.aft.withReasoning;
  const withReasoning = w ? (w.key === req.aft.data.key ? data : await rewrite(w, 'aft-reasoning')) : undefined;
  return { corpus, aft: { data, ...(withReasoning && { withReasoning }) } };
}
