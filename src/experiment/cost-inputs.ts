import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CHARS_PER_TOKEN } from '../config/corpus-size';
import type { Experiment } from '../config/experiment-schema';
import { workerSlots } from '../config/worker-slots';
import { parseEvalSet, type EvalLine } from '../eval/eval-set';
import { inspectConditions } from '../eval/inspect/conditions';
import { CALIBRATION_DIR, kindsOfEvalSet } from '../eval/judge-calibration';
import { parseSpec } from '../model-spec/parse-spec';
import { KNOWN_MODELS, paramCount } from '../plan/models';
import { planCost, type CostInputs, type CostPlan } from '../plan/cost';
import { resolveModel } from '../plan/plan-inputs';
import type { ExperimentPlan } from '../plan/plan';

/** Tokens of the template markers each chat message adds to its text's (CHARS_PER_TOKEN characters a token). */
const TEMPLATE_TOKENS_PER_MESSAGE = 8;
/** The agentic-misalignment benchmark's prompts run to ~3,000 tokens. */
export const INSPECT_MEAN_PROMPT_TOKENS = 3000;
/** Used when the eval set cannot be read here. */
const FALLBACK = { evalLines: 50, meanPromptTokens: 1000, specTokens: 3000 };

/** What was read for the plan; each part may be missing (then a stated fallback is planned with, and noted). */
export interface CostParts {
  specText?: string;
  /** aft.generate.spec's text, when set: the AFT data prompts carry it instead of the midtraining spec. */
  aftSpecText?: string;
  evalLines?: readonly EvalLine[];
  aftText?: string;
  reasoningText?: string;
  /** The memory plan's generate batch. */
  generateBatch?: number;
}

const messagesTokens = (messages: ReadonlyArray<{ content?: unknown }>) =>
  Math.ceil(
    messages.reduce((n, m) => n + (typeof m.content === 'string' ? m.content.length : 0), 0) / CHARS_PER_TOKEN,
  ) +
  TEMPLATE_TOKENS_PER_MESSAGE * messages.length;

/** Mean tokens of the chat lines of a JSONL text; undefined when it has none. */
function meanLineTokens(text: string | undefined): number | undefined {
  if (!text) return undefined;
  let n = 0;
  let sum = 0;
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    try {
      sum += messagesTokens((JSON.parse(line) as { messages?: Array<{ content?: unknown }> }).messages ?? []);
      n++;
    } catch {
      // The loader reports malformed lines.
    }
  }
  return n ? sum / n : undefined;
}

const countLines = (text: string) => text.split(/\r?\n/).filter((l) => l.trim()).length;

/** Items of the frozen calibration sets the judge runs on for this eval (manifest counts). */
function calibrationItems(x: Experiment, lines: readonly EvalLine[] | undefined): number {
  const read = (file: string) =>
    JSON.parse(readFileSync(path.join(CALIBRATION_DIR, file), 'utf8')) as Record<
      string,
      { shows: number; clean: number }
    >;
  if (x.eval.inspect) {
    const manifest = read('inspect-manifest.json');
    const scenarios = new Set(inspectConditions(x.eval.inspect.grid).map((c) => c.params.scenario));
    return [...scenarios].reduce((n, s) => n + ((m) => (m ? m.shows + m.clean : 0))(manifest[`inspect:${s}`]), 0);
  }
  if (!lines) return 0;
  const manifest = read('manifest.json');
  return kindsOfEvalSet(lines).kinds.reduce((n, k) => n + (manifest[k] ? manifest[k].shows + manifest[k].clean : 0), 0);
}

/** The cost planner's inputs from what was read; `notes` collects every fallback used. */
export function costInputsOf(x: Experiment, baseDir: string, parts: CostParts, notes: string[]): CostInputs {
  const model = resolveModel(x.baseModel, baseDir);
  const paramsOf = (key: string) => (KNOWN_MODELS[key] ? paramCount(KNOWN_MODELS[key]) : undefined);
  let specTokens = FALLBACK.specTokens;
  let specRules = 0;
  if (parts.specText !== undefined) {
    specTokens = Math.ceil(parts.specText.length / CHARS_PER_TOKEN);
    try {
      specRules = parseSpec(parts.specText, x.spec).sections.reduce((n, s) => n + s.rules.length, 0);
    } catch {
      // A spec that does not parse is the loader's to report.
    }
  } else notes.push(`spec not read: planned at ${FALLBACK.specTokens} tokens`);
  let evalLines: number;
  let meanPromptTokens: number;
  if (x.eval.inspect) {
    evalLines = inspectConditions(x.eval.inspect.grid).length;
    meanPromptTokens = INSPECT_MEAN_PROMPT_TOKENS;
  } else if (parts.evalLines?.length) {
    evalLines = parts.evalLines.length;
    meanPromptTokens = parts.evalLines.reduce((n, l) => n + messagesTokens(l.messages), 0) / evalLines;
  } else {
    notes.push(`eval set not read: planned at ${FALLBACK.evalLines} prompts of ${FALLBACK.meanPromptTokens} tokens`);
    evalLines = FALLBACK.evalLines;
    meanPromptTokens = FALLBACK.meanPromptTokens;
  }
  const data = meanLineTokens(parts.aftText);
  const withReasoning = meanLineTokens(parts.reasoningText);
  const aftExamples = x.aft.generate ? x.aft.generate.count : parts.aftText ? countLines(parts.aftText) : 0;
  if (!x.aft.generate && !parts.aftText) notes.push('aft.data not read: AFT training not sized');
  return {
    model: 'shape' in model ? { key: model.label, params: paramCount(model.shape) } : undefined,
    paramsOf,
    specTokens,
    ...(parts.aftSpecText !== undefined && { aftSpecTokens: Math.ceil(parts.aftSpecText.length / CHARS_PER_TOKEN) }),
    specRules,
    evalLines,
    meanPromptTokens,
    calibrationItems: calibrationItems(x, parts.evalLines),
    aftExamples,
    ...(data !== undefined ? { aftRowTokens: { data, withReasoning } } : {}),
    generateBatch: parts.generateBatch,
    llmSlots: workerSlots('msm-llm'),
  };
}

/** The cost plan of an experiment whose inputs are read here (msm plan, when the full check cannot run). */
export function costPlanFromDisk(x: Experiment, baseDir: string, memory?: ExperimentPlan): CostPlan {
  const tryRead = (rel: string | undefined) => {
    if (!rel) return undefined;
    const file = path.resolve(baseDir, rel);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  };
  let evalLines: EvalLine[] | undefined;
  const evalText = x.eval.prompts ? tryRead(x.eval.prompts) : undefined;
  if (evalText) {
    try {
      const all = parseEvalSet(evalText, x.eval.prompts!);
      const split =
        x.eval.split === 'auto' ? (all.some((l) => l.split === 'heldout') ? 'heldout' : 'all') : x.eval.split;
      evalLines = split === 'all' ? all : all.filter((l) => l.split === split);
    } catch {
      evalLines = undefined;
    }
  }
  const notes: string[] = [];
  const inputs = costInputsOf(
    x,
    baseDir,
    {
      specText: tryRead(x.spec),
      aftSpecText: tryRead(x.aft.generate?.spec),
      evalLines,
      aftText: tryRead(x.aft.data),
      reasoningText: tryRead(x.aft.reasoningData),
      generateBatch: memory?.jobs.find((j) => j.job === 'eval generate')?.generateBatch,
    },
    notes,
  );
  const plan = planCost(x, inputs);
  return { ...plan, notes: [...notes, ...plan.notes] };
}
