/**
 * Trainer job contract (TypeScript <-> Python; the trainer reads it in trainer/msm_trainer/manifest.py, and
 * docs/ARCHITECTURE.md describes the job's life).
 * A job is a JSON manifest; the Python job prints one JSON event per line on stdout.
 * Exit 0 = done, exit 2 = bad input (not retryable), exit 3 = locked by another process (retried), anything
 * else = a failure (retried up to compute.maxRestarts times without a new checkpoint; see src/training/restarts.ts).
 */
export type TrainerJobKind = 'midtrain' | 'aft' | 'generate' | 'inspect' | 'capabilities' | 'inspect-calibration';

export interface ModelInit {
  /** `random`: a randomly initialised Llama-architecture model (tests/demo); `pretrained`: a local HF dir. */
  init: 'random' | 'pretrained';
  path?: string;
  hiddenSize?: number;
  numLayers?: number;
  numHeads?: number;
  intermediateSize?: number;
  vocabSize?: number;
  /** Seed of the random initialisation: both arms must start from identical base weights. */
  initSeed?: number;
}

export interface TrainHyper {
  method: 'lora' | 'full';
  loraR: number;
  loraAlpha: number;
  loraDropout: number;
  lr: number;
  warmupRatio: number;
  weightDecay: number;
  /** Effective batch: rows per optimizer step over every rank and micro-batch. */
  batchSize: number;
  /**
   * Rows per forward/backward on one rank; the trainer accumulates gradients over
   * batchSize / (world size × microBatchSize) micro-batches. Always set by msm (the memory planner
   * resolves it); not part of the checkpoint fingerprint, since it does not change the result.
   */
  microBatchSize?: number;
  epochs: number;
  /** Hard cap on optimizer steps (0 = no cap). */
  maxSteps: number;
  checkpointEverySteps: number;
  /** Also checkpoint after this many minutes of wall time since the last one (0 = steps only). */
  checkpointEveryMinutes: number;
  /** torch.compile the model and loss on a GPU (not part of the checkpoint fingerprint). */
  compile?: boolean;
  /** Recompute activations in the backward pass (less memory, same result): every layer, or this fraction of
   * them; absent = off. */
  gradientCheckpointing?: boolean | number;
}

/** The processes of a training job: torchrun's nnodes × nproc_per_node (rank 0 on the first node). */
export interface JobWorld {
  nodes: number;
  procsPerNode: number;
}

export interface TrainerJobManifest {
  kind: TrainerJobKind;
  jobId: string;
  baseModel: ModelInit;
  /** URI of the tokenizer.json used to build the data (generate decodes/encodes with it); absent for inspect-calibration. */
  tokenizerUri?: string;
  /** midtrain/aft: URI of a packed-token manifest.json (see src/tokenize/packed-format.ts). */
  dataUri?: string;
  /** aft: nested deterministic subset — first ceil(fraction*N) examples of a seed-42 permutation. */
  fraction?: number;
  /** aft: continue from this trained model output (the MSM adapter); absent = start from base. */
  initFromUri?: string;
  /** aft from a LoRA output with LoRA: merge that adapter into its base and train a new one (absent = continue it). */
  freshAdapter?: boolean;
  /**
   * aft: a packed instruction-tuning set tokenized like the AFT data, and how many of its rows go with each
   * chosen AFT row: round(mixRatio * k) rows, a fixed nested choice, the same for every arm and seed.
   */
  mixDataUri?: string;
  mixRatio?: number;
  /** aft: draw the nested subsets (AFT and mix rows) from this job seed's own permutation (aft.subsetBySeed); absent = the shared one. */
  subsetBySeed?: boolean;
  hyper?: TrainHyper;
  /** midtrain/aft: the world the job runs in; absent = 1 × 1. Generate jobs always run 1 × 1. */
  world?: JobWorld;
  /** generate: model to load (a `final/` output URI; absent = base model) and prompts JSONL URI. */
  modelUri?: string;
  promptsUri?: string;
  samplesPerPrompt?: number;
  temperature?: number;
  maxNewTokens?: number;
  /**
   * generate: a system prompt given with every prompt (an arm's eval system prompt, e.g. the spec): the first
   * message, or before the text of a prompt's own system message. Absent = the prompts as written.
   */
  systemPrompt?: string;
  /**
   * generate: eval.thinking. "on" / "off" render each prompt with the chat template's enable_thinking true /
   * false (Qwen3: off closes an empty think block in the prompt); "model-default" or absent = the template's default.
   */
  thinking?: 'on' | 'off' | 'model-default';
  /** generate: sequences (prompts × samples) per forward batch, set by the memory planner on a GPU; absent = the trainer's default. */
  batchSize?: number;
  /**
   * inspect: an Inspect AI task run against the model (trainer/msm_trainer/inspect_job.py): one Inspect eval
   * per condition (resumable per condition), graded by `grader` through the task's own classifier prompts.
   */
  inspect?: {
    task: string;
    conditions: Array<{ id: string; params: Record<string, string> }>;
    epochs: number;
    maxTokens: number;
    temperature: number;
    batchSize?: number;
    grader: { kind: 'openai' | 'anthropic'; model: string; baseUrl?: string; apiKeyEnv?: string };
  };
  /**
   * capabilities: Inspect tasks run once each against the model at a small sample count, each sample scored
   * by the task's own scorer (trainer/msm_trainer/capabilities_job.py; resumable per check). A check of the
   * built-in msm/multiple_choice carries its questions inline.
   */
  capabilities?: {
    checks: Array<{
      id: string;
      task: string;
      params: Record<string, string | number | boolean>;
      samples?: Array<{ id: string; question: string; choices: string[]; target: string }>;
      limit: number;
      maxTokens: number;
      temperature: number;
    }>;
    batchSize?: number;
    grader?: { kind: 'openai' | 'anthropic'; model: string; baseUrl?: string; apiKeyEnv?: string };
  };
  /**
   * inspect-calibration: the task's own scorer, with `grader`, on fixed replies whose label is known (one
   * epoch per reply; trainer/msm_trainer/inspect_calibration.py): a verdict per item, resumable per scenario.
   */
  inspectCalibration?: {
    task: string;
    scenarios: Array<{
      kind: string;
      params: Record<string, string>;
      items: Array<{ id: string; shows: boolean; reply: string }>;
    }>;
    grader: { kind: 'openai' | 'anthropic'; model: string; baseUrl?: string; apiKeyEnv?: string };
  };
  /** Where checkpoints go: `<prefix>/step-000123/` with a `COMPLETE` marker written last. */
  checkpointPrefix: string;
  /** Where the final output goes (model dir for training, `samples.jsonl` dir for generate). */
  outputUri: string;
  seed: number;
  device: 'cpu' | 'cuda' | 'auto';
  /** midtrain/aft: also log the curves to Weights & Biases (trainer/msm_trainer/wandb_log.py); absent = TensorBoard only. */
  logging?: { wandb?: { project: string; entity?: string; mode?: 'online' | 'offline' | 'disabled' } };
}

export type TrainerEvent =
  | { event: 'progress'; step: number; totalSteps: number; loss?: number; tokensPerSec?: number }
  | { event: 'checkpoint'; step: number; uri: string }
  | { event: 'resumed'; step: number; uri: string }
  | { event: 'done'; outputUri: string; metrics: Record<string, number> }
  | { event: 'error'; message: string; retryable: boolean };

export const TRAINER_EXIT_BAD_INPUT = 2;
/** Another trainer process holds the job's lock (e.g. a previous attempt still dying): retried, never counted as a failure. */
export const TRAINER_EXIT_LOCKED = 3;
