import { WORKER_SLOTS, workerSlots, type SlotQueue } from '../config/worker-slots';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type { ZodType } from 'zod';
import path from 'node:path';
import { applyPlan, assertFits } from '../plan/plan';
import { assertWithinBudget, planCost, type CostPlan } from '../plan/cost';
import { costInputsOf } from './cost-inputs';
import { experimentBaseDir, planFromDisk } from '../plan/plan-inputs';
import { parseSpec, SpecParseError } from '../model-spec/parse-spec';
import {
  deriveVariant,
  lengthGapWarning,
  SPEC_VARIANTS,
  variantTokens,
  type VariantTokens,
} from '../model-spec/spec-variants';
import { tokenizerSpec } from '../config/tokenizer-spec';
import type { ModelSpec } from '../model-spec/types';
import { aftLineSchema, parseEvalSet, parseJsonl, type EvalLine } from '../eval/eval-set';
import { inspectLines } from '../eval/inspect/conditions';
import { parseQuestions } from '../eval/capabilities/questions';
import { checkTokenizerFitsModel, resolveModelPath, resolveTokenizer } from '../tokenize/model-vocab';
import { loadTokenizer } from '../tokenize/tokenizer';
import { DataRefError, isHfRef, parquetToJsonl, readHfData } from '../data/hf-data';
import { PROJECT_ROOT } from '../util/project-paths';
import { trustProblems } from '../security/experiment-trust';
import { inputPathProblem } from '../security/paths';
import { mixShortfall } from '../config/aft-mix';
import { isSpecField, type InputReader } from '../config/frozen-inputs';
import { stepProblems, stepsAt, truncationWarnings } from '../config/aft-steps';
import { worldOf, worldSize } from '../config/compute-shape';
import { fractionCounts, fractionProblems, type AftSubsetPlan } from '../config/aft-subsets';
import { InvalidExperimentError, parseExperiment, type Experiment } from '../config/experiment-schema';
import { DEFAULT_PLACEBO_SPEC, needsPlacebo, resolveArms, type ArmEntry } from '../config/arms';

/**
 * Every check an experiment gets before anything runs, in one place: `msm validate` prints its result and
 * the workflow's loadExperiment activity stores what it read, so the two cannot drift apart. Schema
 * problems, a tokenizer that does not fit the model, and a job that cannot fit its GPUs throw their own
 * errors (InvalidExperimentError, TokenizeInputError, PlanRefusedError, ModelConfigError); the input
 * files are then all read and every problem found in them is thrown together as InvalidExperimentError.
 */
export interface ExperimentCheck {
  /** Parsed, with baseModel.path absolute and the memory planner's micro-batches applied. */
  experiment: Experiment;
  baseDir: string;
  spec: { text: string; parsed: ModelSpec };
  /** Placebo arms only: the unrelated spec the placebo corpus is generated from (midtrain.placeboSpec or the default). */
  placeboSpec?: { text: string; parsed: ModelSpec; path: string };
  /** aft.generate.spec as read (absent: the AFT data is generated from `spec`, when generated at all). */
  aftSpec?: { text: string; parsed: ModelSpec; path: string };
  /** aft.data as read (null with aft.generate: the data does not exist yet). */
  aft: { text: string; examples: number } | null;
  /** The chosen eval split and conditions: the stored text, its lines, which split, and the file's line count. */
  evalSet: EvalSetPart;
  mix?: { text: string; examples: number };
  /** aft.reasoningData as read: the same questions as aft.data, answered with spec-citing reasoning. */
  reasoning?: { text: string; examples: number };
  /** AFT examples each fraction trains on (with aft.generate: of generate.count, as planned), and how seeds draw them. */
  subsets: AftSubsetPlan;
  /** eval.capabilities' question files as read, by check name (checks that run an installed task have none). */
  capabilityQuestions?: Record<string, { text: string; questions: number }>;
  /**
   * Spec tokens of each variant of the spec (the experiment's tokenizer): when asked for (the workflow's
   * load records them for the report) or when variants.maxLengthGap is set.
   */
  specTokens?: VariantTokens;
  /** Said, never refused: this machine may not be the worker host (an unset API key variable). */
  warnings: string[];
  /** The study in hours and dollars (src/plan/cost.ts); above budget.totalUsd the check refuses. */
  cost: CostPlan;
}

/**
 * `readerFor`: how the worker reads a run's frozen inputs (src/config/frozen-inputs.ts); without it every
 * input file is read from this machine's disk.
 */
export async function checkExperiment(
  raw: unknown,
  source: string,
  readerFor?: (x: Experiment, baseDir: string) => InputReader | undefined,
  opts: { enforceBudget?: boolean; specTokens?: boolean } = {},
): Promise<ExperimentCheck> {
  const parsed = parseExperiment(raw, source);
  const baseDir = experimentBaseDir(parsed, PROJECT_ROOT);
  const reader = readerFor?.(parsed, baseDir);
  const read: ReadInput = (rel, field) =>
    reader ? reader(rel, field, () => readInput(baseDir, rel, field)) : readInput(baseDir, rel, field);
  // The tokenizer must fit the model before the model's shape is used to plan memory.
  const withPath = await withModelPath(parsed, baseDir);
  // Frozen inputs: the planner sizes prompts from the frozen eval set, not from a file on this machine.
  // An hf: or Parquet eval set too: the planner cannot read those from a path.
  const p = parsed.eval.prompts;
  const promptsText =
    p && (reader || isHfRef(p) || /\.parquet$/i.test(p))
      ? await read(p, 'eval.prompts').catch(() => undefined)
      : undefined;
  const plan = planFromDisk(withPath, baseDir, promptsText);
  assertFits(plan, source);
  const experiment = applyPlan(withPath, plan);

  // Key variables, hosts and remote credentials the workers refuse (docs/security.md): before any call.
  const problems: string[] = [...trustProblems(experiment), ...externalModelProblems(experiment)];
  const attempt = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof InputProblem) problems.push(e.message);
      else throw e;
      return undefined;
    }
  };
  const a = experiment.aft;
  const spec = await attempt(() => readSpec(read, experiment));
  const placeboSpec = needsPlacebo(resolveArms(a.arms))
    ? await attempt(() => readPlaceboSpec(read, experiment, spec?.text))
    : undefined;
  const aftSpecPath = a.generate?.spec;
  const aftSpec = aftSpecPath === undefined ? undefined : await attempt(() => readAftSpec(read, aftSpecPath));
  const aft = a.data === undefined ? null : await attempt(() => readLines(read, a.data!, 'aft.data', aftLineSchema));
  const evalSet = await attempt(() => readEvalSet(read, experiment.eval));
  const capabilityQuestions: Record<string, { text: string; questions: number }> = {};
  for (const [i, c] of (experiment.eval.capabilities ?? []).entries()) {
    if (c.questions === undefined) continue;
    const field = `eval.capabilities[${i}].questions`;
    const read1 = await attempt(async () => {
      const text = await read(c.questions!, field);
      return { text, questions: nonEmpty(() => parseQuestions(text, c.questions!), c.questions!).length };
    });
    if (read1) capabilityQuestions[c.name] = read1;
  }
  const mix = a.mix ? await attempt(() => readLines(read, a.mix!.data, 'aft.mix.data', aftLineSchema)) : undefined;
  const reasoning =
    a.reasoningData !== undefined
      ? await attempt(() => readLines(read, a.reasoningData!, 'aft.reasoningData', aftLineSchema))
      : undefined;
  // The with-reasoning arms (deliberative) get the same data budget per fraction: the same number of examples.
  if (reasoning && aft && reasoning.examples !== aft.examples) {
    problems.push(
      `aft.reasoningData: ${a.reasoningData} has ${reasoning.examples} examples but aft.data has ${aft.examples}; the with-reasoning arms must train on the same number of examples per fraction: give the same questions answered with reasoning`,
    );
  }

  // With aft.generate the count is the one planned; the filter and dedup may keep fewer (the report says).
  const examples = aft?.examples ?? (a.generate ? a.generate.count : undefined);
  const countSource = a.generate ? `aft.generate.count` : a.data!;
  if (examples !== undefined) {
    // Undefined only when aft.data could not be read: that problem is already listed.
    problems.push(...fractionProblems(examples, a.fractions, a.minExamples, countSource));
    problems.push(...stepProblems(examples, stepSettings(a), countSource, worldSize(worldOf(experiment.compute))));
    if (mix && a.mix) {
      const short = mixShortfall(examples, a.fractions, a.mix.ratio, mix.examples);
      if (short) problems.push(short);
    }
  }
  if (problems.length) throw new InvalidExperimentError(problems, source);
  const costNotes: string[] = [];
  const costPlan = planCost(
    experiment,
    costInputsOf(
      experiment,
      baseDir,
      {
        specText: spec!.text,
        aftSpecText: aftSpec?.text,
        evalLines: evalSet!.lines,
        aftText: aft?.text,
        reasoningText: reasoning?.text,
        generateBatch: plan.jobs.find((j) => j.job === 'eval generate')?.generateBatch,
      },
      costNotes,
    ),
  );
  const cost = { ...costPlan, notes: [...costNotes, ...costPlan.notes] };
  // Before anything is paid: a design whose plan is above the budget the file sets does not start.
  if (opts.enforceBudget !== false) assertWithinBudget(cost, source);
  // Loading a tokenizer takes seconds: only when the lengths are asked for.
  const specTokens = opts.specTokens || experiment.variants ? await specTokensOf(spec!.text, experiment) : undefined;
  const gap = experiment.variants && specTokens && variantGapWarning(specTokens, experiment.variants);
  return {
    cost,
    experiment,
    baseDir,
    spec: spec!,
    ...(placeboSpec ? { placeboSpec } : {}),
    ...(aftSpec ? { aftSpec } : {}),
    aft: aft ?? null,
    evalSet: evalSet!,
    ...(mix ? { mix } : {}),
    ...(reasoning ? { reasoning } : {}),
    ...(Object.keys(capabilityQuestions).length ? { capabilityQuestions } : {}),
    ...(specTokens && { specTokens }),
    subsets: {
      subsetBySeed: a.subsetBySeed,
      minExamples: a.minExamples,
      minSteps: a.minSteps,
      examples: examples!,
      counted: a.generate ? 'aft.generate.count' : 'aft.data',
      perFraction: fractionCounts(examples!, a.fractions, (f) => stepsAt(examples!, f, stepSettings(a))),
    },
    warnings: [
      ...(examples === undefined ? [] : truncationWarnings(examples, stepSettings(a))),
      ...unsetKeyWarnings(experiment),
      ...slotWarnings(experiment),
      ...(gap ? [gap] : []),
    ],
  };
}

/** Each variant's spec tokens, counted on the text the prompts see (the rendered variant). */
async function specTokensOf(text: string, x: Experiment): Promise<VariantTokens> {
  const tokenizer = await loadTokenizer(tokenizerSpec(x.baseModel.tokenizer));
  return variantTokens(parseSpec(text, x.spec), async (texts) =>
    (await tokenizer.encodeBatch(texts)).map((ids) => ids.length),
  );
}

/** The length gap among the variants the study compares (variants.compare, default all four). */
export function variantGapWarning(tokens: VariantTokens, v: NonNullable<Experiment['variants']>): string | undefined {
  const compared = v.compare ?? SPEC_VARIANTS;
  return lengthGapWarning(Object.fromEntries(compared.map((c) => [c, tokens[c]])) as VariantTokens, v.maxLengthGap);
}

const stepSettings = (a: Experiment['aft']) => ({
  fractions: a.fractions,
  minSteps: a.minSteps,
  hyper: a.hyper,
  batchSizeByFraction: a.batchSizeByFraction,
  mix: a.mix,
});

/** A problem with an input file: collected with the others, then reported together. */
class InputProblem extends Error {}

/**
 * The experiment with baseModel.path absolute (the trainer runs in its own folder) and baseModel.tokenizer
 * resolved to a preset or an absolute folder, its tokenizer loaded and checked against the model.
 */
async function withModelPath(x: Experiment, baseDir: string): Promise<Experiment> {
  const modelPath = x.baseModel.path === undefined ? undefined : resolveModelPath(x.baseModel.path, baseDir);
  const tokenizer = resolveTokenizer(x.baseModel.tokenizer, modelPath, baseDir);
  if (typeof tokenizer !== 'string') await loadTokenizer(tokenizer);
  if (modelPath !== undefined) await checkTokenizerFitsModel(tokenizer, modelPath);
  return {
    ...x,
    baseModel: { ...x.baseModel, tokenizer, ...(modelPath !== undefined && { path: modelPath }) },
    aft: { ...x.aft, arms: x.aft.arms.map((a) => withExternalModelPath(a, baseDir)) },
  };
}

/** An external arm's model as the trainer host reads it: s3:// and hf: unchanged, a local folder made absolute. */
function withExternalModelPath(a: ArmEntry, baseDir: string): ArmEntry {
  if (typeof a === 'string' || a.start !== 'external' || a.model === undefined) return a;
  return { ...a, model: resolveModelPath(a.model, baseDir) };
}

/** A local external model must hold a PEFT adapter (adapter_config.json) or a Hugging Face model (config.json). */
function externalModelProblems(x: Experiment): string[] {
  return resolveArms(x.aft.arms).flatMap((a) => {
    const m = a.start === 'external' ? a.model : undefined;
    if (m === undefined || m.startsWith('s3://') || m.startsWith('hf:')) return [];
    const holds = (f: string) => existsSync(path.join(m, f));
    return holds('adapter_config.json') || holds('config.json')
      ? []
      : [
          `aft.arms: external arm "${a.name}": ${m} holds neither adapter_config.json (a PEFT adapter of baseModel) nor config.json (a Hugging Face model folder); fix its model (relative paths resolve against the experiment's baseDir)`,
        ];
  });
}

/** An input file's text by its path as written and the field that names it. */
type ReadInput = (rel: string, field: string) => Promise<string>;

/** An input file from this machine's disk, with every check the loader makes on a path. */
export async function readInput(baseDir: string, rel: string, field: string): Promise<string> {
  // Data fields also take hf:<org>/<name>[@revision][:split] (the local Hugging Face cache) and Parquet.
  const data = !isSpecField(field);
  if (data && isHfRef(rel)) {
    try {
      return readHfData(rel, field);
    } catch (e) {
      if (e instanceof DataRefError) throw new InputProblem(e.message);
      throw e;
    }
  }
  const abs = path.resolve(baseDir, rel);
  const outside = inputPathProblem(field, abs);
  if (outside) throw new InputProblem(outside);
  try {
    if (data && /\.parquet$/i.test(abs)) {
      try {
        return parquetToJsonl(abs, field);
      } catch (e) {
        if (e instanceof DataRefError) throw new InputProblem(e.message);
        throw e;
      }
    }
    return await readFile(abs, 'utf8');
  } catch (e) {
    if (e instanceof InputProblem) throw e;
    throw new InputProblem(
      `${field}: cannot read ${abs} (${(e as NodeJS.ErrnoException).code ?? e}); fix the path (relative paths resolve against ${baseDir})`,
    );
  }
}

async function readSpec(read: ReadInput, x: Experiment): Promise<{ text: string; parsed: ModelSpec }> {
  const text = await read(x.spec, 'spec');
  try {
    return { text, parsed: deriveVariant(parseSpec(text, x.spec), x.specVariant) };
  } catch (e) {
    if (e instanceof SpecParseError) throw new InputProblem(`spec ${e.source}: line ${e.line}: ${e.problem}`);
    throw e;
  }
}

/**
 * The placebo's unrelated spec: midtrain.placeboSpec (relative to baseDir, frozen like the other inputs) or
 * the shipped default. Parsed whole (no variant: it has no values to remove), and never the experiment's spec.
 */
async function readPlaceboSpec(
  read: ReadInput,
  x: Experiment,
  specText: string | undefined,
): Promise<{ text: string; parsed: ModelSpec; path: string }> {
  const named = x.midtrain.placeboSpec;
  const where = named ?? path.join(PROJECT_ROOT, DEFAULT_PLACEBO_SPEC);
  let text: string;
  try {
    text = named
      ? await read(named, 'midtrain.placeboSpec')
      : await readInput(PROJECT_ROOT, DEFAULT_PLACEBO_SPEC, 'midtrain.placeboSpec');
  } catch (e) {
    if (!(e instanceof InputProblem)) throw e;
    throw new InputProblem(
      `a placebo arm midtrains on documents about an unrelated spec, and it cannot be read: ${e.message}; set midtrain.placeboSpec to a spec file (e.g. ${DEFAULT_PLACEBO_SPEC} of the msm checkout)`,
    );
  }
  if (specText !== undefined && text === specText)
    throw new InputProblem(
      `midtrain.placeboSpec: ${where} is the experiment's own spec; a placebo needs an unrelated spec of similar length (e.g. ${DEFAULT_PLACEBO_SPEC})`,
    );
  try {
    return { text, parsed: parseSpec(text, where), path: where };
  } catch (e) {
    if (e instanceof SpecParseError)
      throw new InputProblem(`midtrain.placeboSpec ${e.source}: line ${e.line}: ${e.problem}`);
    throw e;
  }
}

/**
 * aft.generate.spec: the spec the AFT data is generated from, set apart from the midtraining spec (an MSM
 * spec × AFT spec design). Read whole: specVariant shapes the midtraining spec only, so a variant sweep can
 * hold its AFT data fixed.
 */
async function readAftSpec(read: ReadInput, rel: string): Promise<{ text: string; parsed: ModelSpec; path: string }> {
  const text = await read(rel, 'aft.generate.spec');
  try {
    return { text, parsed: parseSpec(text, rel), path: rel };
  } catch (e) {
    if (e instanceof SpecParseError)
      throw new InputProblem(
        `aft.generate.spec ${e.source}: line ${e.line}: ${e.problem}; name a Model Spec in Markdown (like those in specs/), or remove aft.generate.spec to generate the AFT data from the experiment's spec`,
      );
    throw e;
  }
}

async function readLines<T>(
  read: ReadInput,
  rel: string,
  field: string,
  schema: ZodType<T>,
): Promise<{ text: string; examples: number }> {
  const text = await read(rel, field);
  return { text, examples: nonEmpty(() => parseJsonl(text, schema, rel), rel).length };
}

/**
 * The stored eval set is the chosen split and conditions only, so its hash (and every judgment keyed by it)
 * says which part was evaluated. An Inspect task's eval set is its grid: one line per condition.
 */
async function readEvalSet(read: ReadInput, e: Experiment['eval']): Promise<EvalSetPart> {
  if (e.inspect) {
    const lines = inspectLines(e.inspect);
    return { ...asEvalSet(lines), split: 'inspect', of: lines.length };
  }
  const file = await read(e.prompts!, 'eval.prompts');
  const all = nonEmpty(() => parseEvalSet(file, e.prompts!), e.prompts!);
  const split = e.split === 'auto' ? (all.some((l) => l.split === 'heldout') ? 'heldout' : 'all') : e.split;
  const inSplit = split === 'all' ? all : all.filter((l) => l.split === split);
  if (inSplit.length === 0)
    throw new InputProblem(
      `eval.split "${e.split}": no line of ${e.prompts} is in that split; use "all", or an eval set whose lines carry "split"`,
    );
  const lines = e.conditions ? inSplit.filter((l) => matchesConditions(l, e.conditions!)) : inSplit;
  if (lines.length === 0)
    throw new InputProblem(
      `eval.conditions: no line of ${e.prompts}${split === 'all' ? '' : ` (split ${split})`} matches ${JSON.stringify(e.conditions)}; check the factor names and levels against the lines' "condition"`,
    );
  return { ...(lines.length === all.length ? { text: file, lines } : asEvalSet(lines)), split, of: all.length };
}

/** The part of an eval set evaluated: its lines, which split ("inspect": a task's grid), of how many lines. */
export interface EvalSetPart {
  text: string;
  lines: EvalLine[];
  split: 'all' | 'dev' | 'heldout' | 'inspect';
  of: number;
}

const asEvalSet = (lines: EvalLine[]) => ({ text: lines.map((l) => JSON.stringify(l)).join('\n') + '\n', lines });

/** A line's condition has every named factor at one of its listed levels. */
const matchesConditions = (l: EvalLine, wanted: Record<string, string[]>) =>
  Object.entries(wanted).every(
    ([factor, levels]) => l.condition?.[factor] !== undefined && levels.includes(l.condition[factor]),
  );

/** Any problem in an input file is bad input; an empty file is one too. */
function nonEmpty<T>(parse: () => T[], source: string): T[] {
  let lines: T[];
  try {
    lines = parse();
  } catch (e) {
    throw new InputProblem((e as Error).message);
  }
  if (lines.length === 0) throw new InputProblem(`${source}: no examples (the file is empty)`);
  return lines;
}

/** Every API-key variable the experiment names, with where it is named. */
function keyVariables(x: Experiment): Array<{ field: string; variable: string }> {
  const named: Array<[string, { apiKeyEnv?: string } | undefined]> = [
    ['generation.provider', x.generation.provider as { apiKeyEnv?: string }],
    ['aft.generate.provider', x.aft.generate?.provider as { apiKeyEnv?: string } | undefined],
    ['aft.generate.embeddings', x.aft.generate?.embeddings],
    ['eval.judge', x.eval.judge as { apiKeyEnv?: string }],
    ['compute', x.compute as { apiKeyEnv?: string }],
  ];
  return named.flatMap(([field, s]) => (s?.apiKeyEnv ? [{ field: `${field}.apiKeyEnv`, variable: s.apiKeyEnv }] : []));
}

/**
 * Concurrency the file asks for above what one worker runs at once (src/config/worker-slots.ts, read from this
 * machine's environment): a warning, since several workers on the queue add their slots up.
 */
export function slotWarnings(x: Experiment, env: NodeJS.ProcessEnv = process.env): string[] {
  const asked: Array<[string, number | undefined, SlotQueue]> = [
    ['generation.concurrency', x.generation.concurrency, 'msm-llm'],
    ['aft.generate.concurrency', x.aft.generate?.concurrency, 'msm-llm'],
    ['aft.concurrency', x.aft.concurrency, 'msm-gpu'],
  ];
  return asked.flatMap(([field, n, queue]) => {
    const slots = workerSlots(queue, env);
    if (n === undefined || n <= slots) return [];
    const { variable } = WORKER_SLOTS[queue];
    return [
      `${field}: ${n} at once, but a worker runs at most ${slots} ${queue} activities at once (${variable}); ` +
        `with one worker on ${queue} you get ${slots}: set ${variable}=${n} on the worker, or run ${Math.ceil(n / slots)} workers`,
    ];
  });
}

/** A warning, not a refusal: the calls are made by the workers, which may run on another host. */
function unsetKeyWarnings(x: Experiment): string[] {
  return keyVariables(x)
    .filter((k) => !process.env[k.variable])
    .map(
      (k) =>
        `${k.field}: ${k.variable} is not set on this machine; export it with the API key on every worker host that makes these calls (fine if this is not one)`,
    );
}
