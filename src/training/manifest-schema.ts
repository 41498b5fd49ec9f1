import { z } from 'zod';

/**
 * The trainer job manifest's schema: the one contract between the orchestrator and the Python trainer.
 * Every default of a manifest field lives here. The trainer validates each manifest against the JSON Schema
 * made of it (trainer/msm_trainer/manifest.schema.json, regenerate: bin/msm schema manifest
 * trainer/msm_trainer/manifest.schema.json) and fills the defaults from it; rules that span fields (a
 * kind's required fields, unique ids, the grader's key) are the trainer's own (trainer/msm_trainer/manifest.py).
 * Pure: the workflow bundle may import it.
 */

const nonEmpty = z.string().min(1);
const int = (min: number) => z.number().int().min(min);
/**
 * A string of this pattern; `hint` says how to write one: it is the JSON Schema's description, which the trainer
 * puts in its message when a value does not match.
 */
const matching = (re: RegExp, hint: string) => z.string().regex(re, hint).describe(hint);
/** A registered Inspect task of an installed package, <package>/<task> (or msm/<name>: built into the trainer). */
const taskName = matching(
  /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
  'name a registered task of an installed package as <package>/<task>, e.g. inspect_evals/agentic_misalignment',
);
/** A task's arguments: JSON scalars keyed by Python identifiers. */
const taskParams = z
  .record(
    matching(/^[A-Za-z_][A-Za-z0-9_]*$/, 'task arguments are Python identifiers'),
    z.union([z.string(), z.number(), z.boolean(), z.null()]),
  )
  .default({});

export const trainerJobKinds = [
  'midtrain',
  'aft',
  'generate',
  'inspect',
  'capabilities',
  'inspect-calibration',
] as const;

export const modelInitSchema = z
  .object({
    /** `random`: a randomly initialised Llama-architecture model (tests/demo); `pretrained`: `path` (see weights.py). */
    init: z.enum(['random', 'pretrained']),
    path: nonEmpty.optional(),
    // The shape of a random model (the experiment schema's baseModel defaults too).
    hiddenSize: int(1).default(64),
    numLayers: int(1).default(2),
    numHeads: int(1).default(4),
    intermediateSize: int(1).default(128),
    /** Absent: taken from the data / tokenizer. */
    vocabSize: int(2).optional(),
    /** Seed of the random initialisation: both arms must start from identical base weights. */
    initSeed: int(0).default(0),
    /** Grouped-query attention (random models); absent = numHeads. */
    numKvHeads: int(1).optional(),
    /** Random models: plain Llama, or qwen2 (attention biases). */
    arch: z.enum(['llama', 'qwen2']).default('llama'),
  })
  .strict()
  .meta({ id: 'ModelInit' });

export const trainHyperSchema = z
  .object({
    method: z.enum(['lora', 'full']),
    // The paper's adapter (the experiment schema's defaults too): r=64, alpha=128.
    loraR: int(1).default(64),
    loraAlpha: z.number().positive().default(128),
    loraDropout: z.number().min(0).max(0.99).default(0),
    lr: z.number().positive(),
    warmupRatio: z.number().min(0).max(1).default(0),
    weightDecay: z.number().min(0).default(0),
    /** Effective batch: rows per optimizer step over every rank and micro-batch. */
    batchSize: int(1),
    /**
     * Rows per forward/backward on one rank; the trainer accumulates gradients over
     * batchSize / (world size × microBatchSize) micro-batches. Always set by msm (the memory planner
     * resolves it); not part of the checkpoint fingerprint, since it does not change the result.
     */
    microBatchSize: int(1).default(4),
    epochs: z.number().positive().default(1),
    /** Hard cap on optimizer steps (0 = no cap). */
    maxSteps: int(0).default(0),
    checkpointEverySteps: int(0).default(0),
    /** Also checkpoint after this many minutes of wall time since the last one (0 = steps only). */
    checkpointEveryMinutes: z.number().min(0).default(0),
    /** torch.compile the model and loss on a GPU (not part of the checkpoint fingerprint). */
    compile: z.boolean().default(false),
    /** Recompute activations in the backward pass (less memory, same result): every layer, or this fraction of them. */
    gradientCheckpointing: z
      .union([z.boolean(), z.number().gt(0).max(1)])
      .default(false)
      .describe('true, false or the fraction of layers to checkpoint (0 < fraction <= 1)'),
  })
  .strict()
  .meta({ id: 'TrainHyper' });

/** The processes of a training job: torchrun's nnodes × nproc_per_node (rank 0 on the first node). */
export const jobWorldSchema = z.object({ nodes: int(1), procsPerNode: int(1) }).strict();

/** The model that grades (the task's grader_model): an OpenAI(-compatible) or Anthropic API. */
export const graderSchema = z
  .object({
    kind: z.enum(['openai', 'anthropic']),
    model: nonEmpty,
    /** openai: an OpenAI-compatible server (vLLM, ...); absent = api.openai.com. */
    baseUrl: matching(/^https?:\/\/./, 'use an http(s):// URL, e.g. http://host:8000/v1').optional(),
    /** The environment variable holding its key (optional only for an openai grader with a baseUrl). */
    apiKeyEnv: matching(/^[A-Za-z_][A-Za-z0-9_]*$/, 'name an environment variable').optional(),
  })
  .strict()
  .meta({ id: 'Grader' });

const inspectSchema = z
  .object({
    task: taskName,
    conditions: z
      .array(
        z
          .object({
            /** Names folders (its checkpoint folder, logs/<id>.eval): no slashes, no leading dot. */
            id: matching(
              /^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$/,
              'use letters, digits and . _ - = + (it names folders), at most 200 characters, not starting with a dot',
            ),
            params: taskParams,
          })
          .strict(),
      )
      .min(1),
    epochs: int(1),
    maxTokens: int(1),
    temperature: z.number().min(0),
    /** Sequences generated together; absent = the device's default. */
    batchSize: int(1).optional(),
    grader: graderSchema,
  })
  .strict();

const choiceSampleSchema = z
  .object({
    id: nonEmpty,
    question: nonEmpty,
    /** The answers, lettered A, B, ... (at most 26). */
    choices: z.array(nonEmpty).min(2).max(26),
    /** The correct choice's letter. */
    target: matching(/^[A-Z]$/, 'name the correct choice by its letter (A, B, ...)'),
  })
  .strict();

const capabilitiesSchema = z
  .object({
    checks: z
      .array(
        z
          .object({
            /** Names folders (checks/<id>/, logs/<id>.eval) and a metric (score_<id with - as _>). */
            id: matching(
              /^[a-z][a-z0-9-]{0,99}$/,
              'use lower-case letters, digits and -, starting with a letter (it names folders and a metric), at most 100 characters',
            ),
            task: taskName,
            params: taskParams,
            /** msm/multiple_choice only: the questions. */
            samples: z.array(choiceSampleSchema).min(1).optional(),
            /** At most this many samples of the task's dataset. */
            limit: int(1),
            maxTokens: int(1),
            temperature: z.number().min(0),
          })
          .strict(),
      )
      .min(1),
    batchSize: int(1).optional(),
    /** Only tasks that take a grader model need one. */
    grader: graderSchema.optional(),
  })
  .strict();

const inspectCalibrationSchema = z
  .object({
    task: taskName,
    scenarios: z
      .array(
        z
          .object({
            /** inspect:<scenario>, the calibration kind (src/eval/inspect/conditions.ts inspectGraderKind). */
            kind: matching(/^inspect:[a-z][a-z0-9_-]{0,62}$/, 'use inspect:<scenario>, e.g. inspect:blackmail'),
            params: taskParams,
            items: z
              .array(
                z
                  .object({
                    id: matching(
                      /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/,
                      'use letters, digits and . _ -, at most 200 characters',
                    ),
                    shows: z.boolean(),
                    reply: nonEmpty,
                  })
                  .strict(),
              )
              .min(1),
          })
          .strict(),
      )
      .min(1),
    grader: graderSchema,
  })
  .strict();

export const trainerJobManifestSchema = z
  .object({
    kind: z.enum(trainerJobKinds),
    jobId: nonEmpty,
    baseModel: modelInitSchema,
    /** URI of the tokenizer.json used to build the data (generate decodes/encodes with it); absent for inspect-calibration. */
    tokenizerUri: nonEmpty.optional(),
    /** midtrain/aft: URI of a packed-token manifest.json (see src/tokenize/packed-format.ts). */
    dataUri: nonEmpty.optional(),
    /** aft: nested deterministic subset — first ceil(fraction*N) examples of a seed-42 permutation. */
    fraction: z.number().gt(0).max(1).default(1),
    /** aft: continue from this trained model output (the MSM adapter); absent = start from base. */
    initFromUri: nonEmpty.optional(),
    /** aft from a LoRA output with LoRA: merge that adapter into its base and train a new one (false = continue it). */
    freshAdapter: z.boolean().default(false),
    /**
     * aft: a packed instruction-tuning set tokenized like the AFT data, and how many of its rows go with each
     * chosen AFT row: round(mixRatio * k) rows, a fixed nested choice, the same for every arm and seed.
     */
    mixDataUri: nonEmpty.optional(),
    mixRatio: z.number().positive().optional(),
    /** aft: draw the nested subsets (AFT and mix rows) from this job seed's own permutation (aft.subsetBySeed). */
    subsetBySeed: z.boolean().default(false),
    hyper: trainHyperSchema.optional(),
    /** midtrain/aft: the world the job runs in; absent = 1 × 1. Generate jobs always run 1 × 1. */
    world: jobWorldSchema.optional(),
    /** generate, inspect, capabilities: the model to load (a `final/` output URI; absent = the base model). */
    modelUri: nonEmpty.optional(),
    /**
     * generate, inspect, capabilities: an external arm's model, written as baseModel.path is (a local folder,
     * s3://, hf:<org>/<name>[@revision]): a PEFT adapter of the base model or a Hugging Face model folder.
     */
    externalModel: nonEmpty.optional(),
    /** generate: the prompts JSONL URI. */
    promptsUri: nonEmpty.optional(),
    samplesPerPrompt: int(1).default(1),
    temperature: z.number().min(0).default(1),
    maxNewTokens: int(1).default(128),
    /**
     * generate: a system prompt given with every prompt (an arm's eval system prompt, e.g. the spec): the first
     * message, or before the text of a prompt's own system message. Absent = the prompts as written.
     */
    systemPrompt: nonEmpty.optional(),
    /**
     * generate/inspect/capabilities: eval.thinking. "on" / "off" render each prompt with the chat template's
     * enable_thinking true / false; "model-default" or absent = the template's default.
     */
    thinking: z.enum(['on', 'off', 'model-default']).optional(),
    /** generate: sequences (prompts × samples) per forward batch, set by the memory planner on a GPU; absent = the trainer's default. */
    batchSize: int(1).optional(),
    /** inspect: one Inspect eval per condition, graded by `grader` (trainer/msm_trainer/inspect_job.py). */
    inspect: inspectSchema.optional(),
    /** capabilities: Inspect tasks run once each at a small sample count (trainer/msm_trainer/capabilities_job.py). */
    capabilities: capabilitiesSchema.optional(),
    /** inspect-calibration: the task's own scorer, with `grader`, on fixed replies whose label is known. */
    inspectCalibration: inspectCalibrationSchema.optional(),
    /** Where checkpoints go: `<prefix>/step-000123/` with a `COMPLETE` marker written last. */
    checkpointPrefix: nonEmpty,
    /** Where the final output goes (model dir for training, `samples.jsonl` dir for generate). */
    outputUri: nonEmpty,
    seed: int(0),
    device: z.enum(['cpu', 'cuda', 'auto']).default('auto'),
    /** midtrain/aft: also log the curves to Weights & Biases (trainer/msm_trainer/wandb_log.py); absent = TensorBoard only. */
    logging: z
      .object({
        wandb: z
          .object({
            project: nonEmpty,
            entity: nonEmpty.optional(),
            mode: z.enum(['online', 'offline', 'disabled']).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Throws when `m` breaks the schema the trainer validates with: every job msm writes goes through here, so a
 * writer out of step with the contract fails in its own tests, not on a remote machine.
 */
export function checkTrainerManifest(m: unknown): void {
  const r = trainerJobManifestSchema.safeParse(m);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(the manifest)'}: ${i.message}`);
    throw new Error(`trainer job manifest breaks src/training/manifest-schema.ts: ${problems.join('; ')}`);
  }
}

/** The JSON Schema the trainer validates manifests with (trainer/msm_trainer/manifest.schema.json). */
export function trainerManifestJsonSchema(): string {
  const schema = z.toJSONSchema(trainerJobManifestSchema, { io: 'input' });
  return (
    JSON.stringify(
      {
        ...schema,
        title: 'msm trainer job manifest',
        $comment:
          'Generated from src/training/manifest-schema.ts: bin/msm schema manifest trainer/msm_trainer/manifest.schema.json',
      },
      null,
      2,
    ) + '\n'
  );
}
