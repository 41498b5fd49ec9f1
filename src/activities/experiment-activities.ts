import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { mixShortfall } from '../config/aft-mix';
import { parseExperiment, InvalidExperimentError, type Experiment } from '../config/experiment-schema';
import { applyPlan, assertFits, PlanRefusedError } from '../plan/plan';
import { ModelConfigError, planFromDisk } from '../plan/plan-inputs';
import { openStore } from '../store/open-store';
import { parseSpec, SpecParseError } from '../spec/parse-spec';
import { deriveVariant, renderSpec } from '../spec/spec-variants';
import { specHash } from '../spec/spec-hash';
import { aftLineSchema, parseEvalSet, parseJsonl } from '../spec/eval-set';
import { checkTokenizerFitsModel, resolveModelPath } from '../tokenize/model-vocab';
import { TokenizeInputError } from '../tokenize/errors';
import { sha256Hex } from '../util/hash';
import { PROJECT_ROOT } from '../util/project-paths';
import { badInput } from './failures';
import type { LoadedExperiment } from './types';

/** Resolve a store setting to a URI: s3:// and file:// pass through, paths resolve against baseDir. */
export function resolveStoreUri(store: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(store)) return store;
  return 'file://' + path.resolve(baseDir, store);
}

async function readInput(baseDir: string, rel: string, field: string): Promise<string> {
  const abs = path.resolve(baseDir, rel);
  try {
    return await readFile(abs, 'utf8');
  } catch (e) {
    throw badInput(`${field}: cannot read ${abs} (${(e as NodeJS.ErrnoException).code ?? e}); fix the path (relative paths resolve against ${baseDir})`);
  }
}

/**
 * The experiment with baseModel.path made absolute (the trainer runs in its own folder), after checking
 * that the tokenizer fits a local model folder's vocabulary.
 */
async function withModelPath<T extends { baseModel: { path?: string; tokenizer: Parameters<typeof checkTokenizerFitsModel>[0] } }>(experiment: T, baseDir: string): Promise<T> {
  if (experiment.baseModel.path === undefined) return experiment;
  const modelPath = resolveModelPath(experiment.baseModel.path, baseDir);
  try {
    await checkTokenizerFitsModel(experiment.baseModel.tokenizer, modelPath);
  } catch (e) {
    if (e instanceof TokenizeInputError) throw badInput(e.message);
    throw e;
  }
  return { ...experiment, baseModel: { ...experiment.baseModel, path: modelPath } };
}

export function createExperimentActivities() {
  return {
    /**
     * Validate the experiment, parse the spec and copy every input into the artifact store, so the rest
     * of the run depends only on content-addressed artifacts. Bad input fails here, once, non-retryably.
     */
    async loadExperiment(raw: unknown): Promise<LoadedExperiment> {
      let experiment;
      try {
        experiment = parseExperiment(raw, 'workflow input');
      } catch (e) {
        if (e instanceof InvalidExperimentError) throw badInput(e.message);
        throw e;
      }
      const baseDir = experiment.baseDir ? path.resolve(PROJECT_ROOT, experiment.baseDir) : PROJECT_ROOT;
      // The tokenizer must fit the model before the model's shape is used to plan memory.
      experiment = planned(await withModelPath(experiment, baseDir), baseDir);
      const storeUri = resolveStoreUri(experiment.store, baseDir);
      const store = openStore(storeUri);

      const specText = await readInput(baseDir, experiment.spec, 'spec');
      let spec;
      try {
        spec = deriveVariant(parseSpec(specText, experiment.spec), experiment.specVariant);
      } catch (e) {
        if (e instanceof SpecParseError) throw badInput(`spec ${e.source}: line ${e.line}: ${e.problem}`);
        throw e;
      }
      const hash = specHash(spec);
      const specKey = `inputs/spec-${hash.slice(0, 16)}.md`;
      if (!(await store.exists(specKey))) await store.put(specKey, renderSpec(spec));

      // With aft.generate the data does not exist yet: the experiment generates it from the spec.
      const aftPath = experiment.aft.data;
      const aftText = aftPath === undefined ? null : await readInput(baseDir, aftPath, 'aft.data');
      const aftLines = aftText === null ? [] : safeLines(() => parseJsonl(aftText, aftLineSchema, aftPath!), aftPath!);
      const evalFile = await readInput(baseDir, experiment.eval.prompts, 'eval.prompts');
      const allEvalLines = safeLines(() => parseEvalSet(evalFile, experiment.eval.prompts), experiment.eval.prompts);
      // The stored eval set is the chosen split only, so its hash (and every judgment keyed by it) says which.
      const split = experiment.eval.split;
      const evalLines = split === 'all' ? allEvalLines : allEvalLines.filter((l) => l.split === split);
      if (evalLines.length === 0) {
        throw badInput(`eval.split "${split}": no line of ${experiment.eval.prompts} is in that split; use "all", or an eval set whose lines carry "split"`);
      }
      const evalText = split === 'all' ? evalFile : evalLines.map((l) => JSON.stringify(l)).join('\n') + '\n';
      let aftData: LoadedExperiment['aftData'] = null;
      if (aftText !== null) {
        const sha256 = sha256Hex(aftText);
        const key = `inputs/aft-${sha256.slice(0, 16)}.jsonl`;
        if (!(await store.exists(key))) await store.put(key, aftText);
        aftData = { key, sha256, examples: aftLines.length };
      }
      const evalSha = sha256Hex(evalText);
      const evalKey = `inputs/eval-${evalSha.slice(0, 16)}.jsonl`;
      if (!(await store.exists(evalKey))) await store.put(evalKey, evalText);
      const reasoningData = experiment.aft.reasoningData !== undefined ? await storeReasoningData(store, baseDir, experiment.aft.reasoningData, aftLines.length) : undefined;
      const mixData = experiment.aft.mix ? await storeMixData(store, baseDir, experiment.aft, aftLines.length || (experiment.aft.generate?.count ?? 0)) : undefined;

      return {
        experiment,
        storeUri,
        spec: {
          key: specKey,
          hash,
          title: spec.title,
          variant: experiment.specVariant,
          sections: spec.sections.length,
          rules: spec.sections.reduce((n, s) => n + s.rules.length, 0),
        },
        aftData,
        ...(mixData ? { mixData } : {}),
        ...(reasoningData ? { reasoningData } : {}),
        evalSet: { key: evalKey, sha256: evalSha, prompts: evalLines.length },
      };
    },
  };
}

/**
 * The memory planner's check, before anything is rented: a job that cannot fit is bad input (with the
 * fixes); otherwise the experiment carries the micro-batches and generate batch the planner resolved.
 */
function planned(experiment: Experiment, baseDir: string): Experiment {
  try {
    const plan = planFromDisk(experiment, baseDir);
    assertFits(plan, 'experiment');
    return applyPlan(experiment, plan);
  } catch (e) {
    if (e instanceof PlanRefusedError || e instanceof ModelConfigError) throw badInput(e.message);
    throw e;
  }
}

/**
 * aft.reasoningData: the with-reasoning answers of arms like deliberative. Every fraction must give those
 * arms as many examples as the others (the same data budget), so the file must be as long as aft.data.
 */
async function storeReasoningData(store: ReturnType<typeof openStore>, baseDir: string, rel: string, aftExamples: number) {
  const text = await readInput(baseDir, rel, 'aft.reasoningData');
  const lines = safeLines(() => parseJsonl(text, aftLineSchema, rel), rel);
  if (lines.length !== aftExamples) {
    throw badInput(
      `aft.reasoningData: ${rel} has ${lines.length} examples but aft.data has ${aftExamples}; the with-reasoning arms must train on the same number of examples per fraction: give the same questions answered with reasoning`,
    );
  }
  const sha256 = sha256Hex(text);
  const key = `inputs/aft-${sha256.slice(0, 16)}.jsonl`;
  if (!(await store.exists(key))) await store.put(key, text);
  return { key, sha256, examples: lines.length };
}

/** The instruction-tuning set mixed into AFT: same line format as the AFT data, enough for every cell. */
async function storeMixData(
  store: ReturnType<typeof openStore>,
  baseDir: string,
  aft: { mix?: { data: string; ratio: number }; fractions: number[] },
  aftExamples: number,
): Promise<{ key: string; sha256: string; examples: number }> {
  const mix = aft.mix!;
  const text = await readInput(baseDir, mix.data, 'aft.mix.data');
  const lines = safeLines(() => parseJsonl(text, aftLineSchema, mix.data), mix.data);
  const short = mixShortfall(aftExamples, aft.fractions, mix.ratio, lines.length);
  if (short) throw badInput(short);
  const sha256 = sha256Hex(text);
  const key = `inputs/mix-${sha256.slice(0, 16)}.jsonl`;
  if (!(await store.exists(key))) await store.put(key, text);
  return { key, sha256, examples: lines.length };
}

/** Any problem in an input file is bad input; an empty file is one too. */
function safeLines<T>(parse: () => T[], source: string): T[] {
  let lines: T[];
  try {
    lines = parse();
  } catch (e) {
    throw badInput((e as Error).message);
  }
  if (lines.length === 0) throw badInput(`${source}: no examples (the file is empty)`);
  return lines;
}
