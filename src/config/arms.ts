import { z } from 'zod';

/**
 * Arms as data: what a model starts from, what it is fine-tuned on, and what it is told at eval time.
 * Pure (no I/O): the workflow bundle resolves arms with it, including arms recorded in old histories
 * (plain preset names), so `baseline` and `msm` must keep meaning exactly what they always meant.
 */
export const ARM_STARTS = ['base', 'msm', 'placebo', 'external'] as const;
/**
 * Which AFT data an arm trains on: `data` = the sweep's AFT file (aft.data, or the aft.generate file
 * chosen by aft.generate.train); `with-reasoning` = answers that reason from the spec in a <think> block
 * (aft.generate's with-reasoning file, or aft.reasoningData); `none` = no fine-tuning (a control).
 */
export const ARM_AFT_DATA = ['data', 'with-reasoning', 'none'] as const;
/** `spec`: the spec text (the variant the experiment renders) as the system prompt of every eval prompt. */
export const ARM_SYSTEM_PROMPTS = ['spec'] as const;

export interface Arm {
  name: string;
  start: (typeof ARM_STARTS)[number];
  aft: (typeof ARM_AFT_DATA)[number];
  systemPrompt?: (typeof ARM_SYSTEM_PROMPTS)[number];
  /** start external: the model evaluated (a local folder, s3:// or hf:<org>/<name>[@revision]). */
  model?: string;
}

/**
 * The deliberative preset in words, everywhere it is described (report, msm validate / plan, docs, schema):
 * it is the SFT stage of deliberative alignment only, so no output may pass it off as the whole method.
 */
export const SPEC_REASONING_AFT = 'AFT with spec-citing reasoning (the SFT stage of deliberative alignment)';
export const NO_RL_STAGE = 'the spec-graded RL stage is not implemented (it may come later)';

export const ARM_PRESETS: Readonly<Record<string, Arm>> = {
  baseline: { name: 'baseline', start: 'base', aft: 'data' },
  msm: { name: 'msm', start: 'msm', aft: 'data' },
  deliberative: { name: 'deliberative', start: 'base', aft: 'with-reasoning' },
  // The MSM × chain-of-thought 2 × 2 with baseline, msm and deliberative: midtrained, then spec-citing reasoning.
  'msm-reasoning': { name: 'msm-reasoning', start: 'msm', aft: 'with-reasoning' },
  'msm-only': { name: 'msm-only', start: 'msm', aft: 'none' },
  base: { name: 'base', start: 'base', aft: 'none' },
  'spec-in-context': { name: 'spec-in-context', start: 'base', aft: 'data', systemPrompt: 'spec' },
  // Same tokens, unrelated spec: separates "MSM" from "more training through the same adapter".
  placebo: { name: 'placebo', start: 'placebo', aft: 'data' },
};
export const ARM_PRESET_NAMES = Object.keys(ARM_PRESETS);

const armObjectSchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9-]{0,31}$/,
        'an arm name: lower-case letters, digits and "-" (at most 32), e.g. msm-deliberative',
      ),
    start: z
      .enum(ARM_STARTS)
      .describe(
        "base: the base model; msm: the midtrained checkpoint of this experiment's corpus; placebo: midtrained the same way on as many tokens of documents about an unrelated spec (midtrain.placeboSpec); external: the model named by `model`, evaluated as given (aft: none)",
      ),
    aft: z
      .enum(ARM_AFT_DATA)
      .describe(
        `data: the sweep's AFT data; with-reasoning: ${SPEC_REASONING_AFT} in a <think> block (${NO_RL_STAGE}); none: no AFT (a control, evaluated once)`,
      ),
    systemPrompt: z
      .enum(ARM_SYSTEM_PROMPTS)
      .optional()
      .describe('spec: the spec text as the system prompt at eval time'),
    model: z
      .string()
      .min(1)
      .optional()
      .describe(
        "start external: the model to evaluate beside msm's own runs: a PEFT adapter of baseModel or a whole Hugging Face model, as a local folder (relative to baseDir), s3://bucket/prefix or hf:<org>/<name>[@revision]",
      ),
  })
  .strict();

export const armEntrySchema = z.union([
  z.string().refine((s) => s in ARM_PRESETS, {
    error: (i) =>
      `unknown arm "${String(i.input)}": use a preset (${ARM_PRESET_NAMES.join(', ')}) or an object {name, start: base|msm|placebo|external, aft: data|with-reasoning|none, systemPrompt?: spec, model?: <path> (external only)}`,
  }),
  armObjectSchema,
]);
export type ArmEntry = z.input<typeof armEntrySchema>;

export const resolveArm = (a: ArmEntry): Arm => (typeof a === 'string' ? ARM_PRESETS[a] : a);
export const resolveArms = (arms: readonly ArmEntry[]): Arm[] => arms.map(resolveArm);

/** Controls are not fine-tuned: one evaluation each (at eval seed CONTROL_SEED), no fractions, no seeds. */
export const isControl = (a: Arm) => a.aft === 'none';
export const CONTROL_SEED = 0;
export const needsMidtraining = (arms: readonly Arm[]) => arms.some((a) => a.start === 'msm');
/** The arm starts from one of this experiment's midtrainings (msm or placebo): its cells repeat per midtrain.seeds. */
export const startsFromMidtraining = (a: { start: string }) => a.start === 'msm' || a.start === 'placebo';
/** An arm starts from the placebo midtraining: the placebo corpus is generated, matched and midtrained on. */
export const needsPlacebo = (arms: readonly Arm[]) => arms.some((a) => a.start === 'placebo');
/** The neutral spec placebo arms midtrain on unless midtrain.placeboSpec names another (project-relative). */
export const DEFAULT_PLACEBO_SPEC = 'specs/placebo.md';
/** What an arm starts from, in words: the control's label in reports and logs. */
export const PLACEBO_LABEL = 'placebo midtraining (same tokens, unrelated spec)';

/**
 * The name a trained model is stored and run under. Arms that train the same thing (same start, same data)
 * share one run: spec-in-context reuses the baseline's models, and preset names keep the workflow ids
 * and artifact keys every earlier experiment used, so baseline cells stay shared across experiments.
 */
export function trainingName(a: Arm): string {
  // Only these, for good: msm-reasoning trains under its own name, and an object arm of its shape written
  // before the preset existed (e.g. msm-deliberative) keeps the name its recorded runs used.
  const preset = ['baseline', 'msm', 'deliberative', 'placebo'].find(
    (n) => ARM_PRESETS[n].start === a.start && ARM_PRESETS[n].aft === a.aft,
  );
  return preset ?? a.name;
}

/**
 * The pairs that isolate MSM's content from "more training": each msm arm against the placebo arm that
 * differs from it only in its start (same AFT data, same eval-time system prompt).
 */
export function placeboPairs(arms: readonly Arm[]): Array<[arm: string, versus: string]> {
  return arms.flatMap((m) =>
    m.start !== 'msm' || isControl(m)
      ? []
      : arms
          .filter((p) => p.start === 'placebo' && p.aft === m.aft && p.systemPrompt === m.systemPrompt)
          .map((p): [string, string] => [m.name, p.name]),
  );
}

/** What the arm is, in words (reports, logs). */
export function describeArm(a: Arm): string {
  const from = {
    base: 'the base model',
    msm: 'the midtrained model',
    placebo: `the ${PLACEBO_LABEL} model`,
    external: `the external model ${a.model ?? '(not named)'}`,
  }[a.start];
  const data = {
    data: 'fine-tuned on the AFT data',
    'with-reasoning': `${SPEC_REASONING_AFT} in a <think> block; ${NO_RL_STAGE}`,
    none: 'no AFT (control)',
  }[a.aft];
  return `${from}, ${data}${a.systemPrompt === 'spec' ? ', spec as system prompt at eval' : ''}`;
}

/** One line per arm, "name: what it is", for msm validate and msm plan. */
export const armLines = (arms: readonly Arm[]) => arms.map((a) => `${a.name}: ${describeArm(a)}`);

const sameArm = (a: Arm, b: Arm) => a.start === b.start && a.aft === b.aft && a.systemPrompt === b.systemPrompt;

/** Problems of an arm list that need nothing but the list and the AFT settings; empty when fine. */
export function armProblems(
  entries: readonly ArmEntry[],
  aft: { data?: string; reasoningData?: string; generate?: { style: string; train: string } },
): Array<{ path: Array<string | number>; message: string }> {
  // Entries the schema already refused (unknown names, malformed objects) are left to its message.
  const known = (a: ArmEntry) =>
    typeof a === 'string' ? a in ARM_PRESETS : typeof a === 'object' && a !== null && typeof a.name === 'string';
  if (!entries.every(known)) return [];
  const arms = resolveArms(entries);
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  const seen = new Set<string>();
  arms.forEach((a, i) => {
    if (seen.has(a.name))
      out.push({ path: ['arms', i], message: `arm "${a.name}" is listed twice; list each arm once` });
    seen.add(a.name);
    const preset = ARM_PRESETS[a.name];
    if (typeof entries[i] !== 'string' && preset && !sameArm(preset, a)) {
      out.push({
        path: ['arms', i, 'name'],
        message: `"${a.name}" is a preset arm (${describeArm(preset)}); give your arm another name, or write "${a.name}" alone for the preset`,
      });
    }
  });
  arms.forEach((a, i) => out.push(...externalProblems(a, i)));
  if (arms.every(isControl)) {
    out.push({
      path: ['arms'],
      message: 'every arm is a control (aft: none): add an arm that fine-tunes, e.g. baseline or msm',
    });
  }
  const reasoning = arms.filter((a) => a.aft === 'with-reasoning');
  if (reasoning.length && aft.data !== undefined && aft.reasoningData === undefined) {
    out.push({
      path: ['reasoningData'],
      message: `arm "${reasoning[0].name}" trains on spec-citing reasoning: set aft.reasoningData (a chat JSONL with as many examples as aft.data, answers reasoning from the spec in a <think> block), or generate the data with aft.generate (it writes both files)`,
    });
  }
  if (aft.reasoningData !== undefined && aft.data === undefined) {
    out.push({
      path: ['reasoningData'],
      message:
        'aft.reasoningData goes with aft.data; aft.generate writes its own with-reasoning file: remove reasoningData',
    });
  }
  if (reasoning.length && aft.generate) {
    if (aft.generate.style !== 'rule') {
      out.push({
        path: ['generate', 'style'],
        message: `arm "${reasoning[0].name}" is deliberative-style training (reasoning that cites the spec): set aft.generate.style: rule`,
      });
    }
    const plain = arms.find((a) => a.aft === 'data');
    if (plain && aft.generate.train === 'with-reasoning') {
      out.push({
        path: ['generate', 'train'],
        message: `arms "${plain.name}" and "${reasoning[0].name}" would train on the same with-reasoning file: set aft.generate.train: without-reasoning (answers only for the AFT arms, the reasoning for "${reasoning[0].name}")`,
      });
    }
  }
  return out;
}

/** An external arm names its model and is evaluated as given; no other arm names one. */
function externalProblems(a: Arm, i: number): Array<{ path: Array<string | number>; message: string }> {
  if (a.start !== 'external')
    return a.model === undefined
      ? []
      : [
          {
            path: ['arms', i, 'model'],
            message: `arm "${a.name}" starts from ${a.start}: only an external arm (start: external) takes a model; remove it`,
          },
        ];
  const out: Array<{ path: Array<string | number>; message: string }> = [];
  if (a.model === undefined)
    out.push({
      path: ['arms', i, 'model'],
      message: `external arm "${a.name}" names no model: set model to a PEFT adapter of baseModel or a whole Hugging Face model (a local folder, s3://bucket/prefix or hf:<org>/<name>[@revision])`,
    });
  if (a.aft !== 'none')
    out.push({
      path: ['arms', i, 'aft'],
      message: `external arm "${a.name}" is evaluated as given: set aft: none (fine-tuning an external model is not supported yet)`,
    });
  return out;
}
