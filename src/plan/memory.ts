import { layerParams, loraParams, paramCount, type ModelShape } from './models';

export const GIB = 1024 ** 3;

/**
 * Every constant of the memory model, in one place, to be calibrated against
 * `torch.cuda.max_memory_allocated` on real GPUs. Activation constants are bytes per token of one decoder
 * layer, per unit of the width they multiply, counting what a Hugging Face Llama/Qwen layer keeps for
 * backward under bf16 autocast (SDPA attention, so no sequence² term):
 * - per norm (2 per layer), HF RMSNorm upcasts to fp32: its fp32 input (4) + the bf16 normalised tensor the
 *   weight multiply keeps (2) + the bf16 output the next linear keeps (2) = 8 → 16 per hidden unit;
 * - attention, per query width (heads × headDim): q after RoPE (2), k and v after repeat_kv to the query
 *   width (2 + 2), the SDPA output (2) and o_proj's contiguous input (2) = 10 (the sequence-sized softmax
 *   statistics are negligible);
 * - q/k norms (Qwen3, Gemma 3): fp32 input (4) + bf16 normalised (2) per query and key width = 6;
 * - SwiGLU MLP, per intermediate unit: gate output (2, kept by SiLU), SiLU output (2), up output (2) and
 *   their product (2, kept by down_proj) = 8;
 * - LoRA: each of the 7 adapted matrices keeps its bf16 A output, r wide: 7 × 2 = 14 per rank.
 * Frozen base linears keep nothing extra: their inputs are kept anyway by the LoRA A matrices beside them.
 */
export const MEMORY_MODEL = {
  activationBytesPerHidden: 16,
  activationBytesPerQueryWidth: 10,
  activationBytesPerQkNormWidth: 6,
  activationBytesPerIntermediate: 8,
  activationBytesPerLoraRank: 14,
  /** With gradient checkpointing each layer keeps only its bf16 input. */
  checkpointedBytesPerHidden: 2,
  /** bf16 weights. */
  bf16: 2,
  /** fp32 master weights + fp32 grads + AdamW's two fp32 states (full), or the same for LoRA's adapter. */
  trainableBytesPerParam: 16,
  /** Full fine-tuning: FSDP2 all-gathers bf16 params and reduce-scatters fp32 grads of this many layers at once. */
  layersInFlight: 2,
  inFlightGradBytes: 4,
  /** The trainer's chunked cross-entropy: this many tokens' logits at a time, fp32 logits + softmax + grad. */
  lossChunkTokens: 1024,
  lossChunkCopies: 3,
  fp32: 4,
  /** CUDA context, NCCL buffers and the allocator's own reserve, per GPU. */
  overheadBytes: 1.5 * GIB,
  /** Allocator fragmentation on top of what is allocated. */
  fragmentation: 0.1,
  /** Generate batches at most this many sequences (the trainer's upper bound). */
  maxGenerateBatch: 256,
} as const;

const K = MEMORY_MODEL;

export interface TrainJobShape {
  model: ModelShape;
  method: 'lora' | 'full';
  loraR: number;
  seqLen: number;
  microBatch: number;
  /** Gradient checkpointing: every layer (true), none (false) or this fraction of the layers. */
  checkpointing: boolean | number;
  /** GPUs (ranks) the weights and optimizer states are sharded over. */
  world: number;
}

export interface Breakdown {
  weights: number;
  optimizer: number;
  activations: number;
  loss: number;
  /** Overhead and fragmentation. */
  overhead: number;
  total: number;
}

/** Bytes one decoder layer keeps for backward, per token, without checkpointing. */
export function layerActivationBytesPerToken(m: ModelShape, loraR: number): number {
  const q = m.heads * m.headDim;
  const kv = m.kvHeads * m.headDim;
  return (
    K.activationBytesPerHidden * m.hidden +
    K.activationBytesPerQueryWidth * q +
    (m.qkNorm ? K.activationBytesPerQkNormWidth * (q + kv) : 0) +
    K.activationBytesPerIntermediate * m.intermediate +
    K.activationBytesPerLoraRank * loraR
  );
}

/** How many decoder layers recompute their activations: floor(layers × fraction), as the trainer picks them. */
export function checkpointedLayerCount(layers: number, checkpointing: boolean | number): number {
  return Math.floor(layers * Number(checkpointing) + 1e-9);
}

/** Checkpointed layers keep their bf16 input and, one at a time in backward, their full activations. */
function activationBytes(j: TrainJobShape): number {
  const tokens = j.microBatch * j.seqLen;
  const layer = tokens * layerActivationBytesPerToken(j.model, j.method === 'lora' ? j.loraR : 0);
  const ckpt = checkpointedLayerCount(j.model.layers, j.checkpointing);
  const kept = (j.model.layers - ckpt) * layer;
  if (ckpt === 0) return kept;
  return kept + ckpt * tokens * j.model.hidden * K.checkpointedBytesPerHidden + layer;
}

function lossBytes(j: TrainJobShape): number {
  const chunk = Math.min(K.lossChunkTokens, j.microBatch * j.seqLen);
  return chunk * j.model.vocab * K.fp32 * K.lossChunkCopies + j.microBatch * j.seqLen * j.model.hidden * K.bf16;
}

/** Sharded weights and optimizer states, plus the unsharded layers FSDP2 has gathered at a time. */
function stateBytes(j: TrainJobShape): { weights: number; optimizer: number } {
  const p = paramCount(j.model);
  const inFlight = K.layersInFlight * layerParams(j.model);
  if (j.method === 'lora') {
    return {
      weights: (p * K.bf16) / j.world + inFlight * K.bf16,
      optimizer: (loraParams(j.model, j.loraR) * K.trainableBytesPerParam) / j.world,
    };
  }
  return { weights: inFlight * (K.bf16 + K.inFlightGradBytes), optimizer: (p * K.trainableBytesPerParam) / j.world };
}

const withOverhead = (allocated: number) => allocated * (1 + K.fragmentation) + K.overheadBytes;

/** Peak bytes on one GPU of a training job, as the FSDP2 trainer runs it. */
export function trainPeak(j: TrainJobShape): Breakdown {
  const { weights, optimizer } = stateBytes(j);
  const activations = activationBytes(j);
  const loss = lossBytes(j);
  const allocated = weights + optimizer + activations + loss;
  const total = withOverhead(allocated);
  return { weights, optimizer, activations, loss, overhead: total - allocated, total };
}

export interface SampleJobShape {
  model: ModelShape;
  batch: number;
  promptTokens: number;
  maxNewTokens: number;
}

/** Peak bytes of a sampling job: the merged bf16 model on one GPU, its KV cache and one step's logits. */
export function samplePeak(j: SampleJobShape): Breakdown {
  const m = j.model;
  const weights = paramCount(m) * K.bf16;
  const kvCache = j.batch * (j.promptTokens + j.maxNewTokens) * m.layers * 2 * m.kvHeads * m.headDim * K.bf16;
  const logits = j.batch * m.vocab * K.fp32;
  const allocated = weights + kvCache + logits;
  const total = withOverhead(allocated);
  return { weights, optimizer: 0, activations: kvCache, loss: logits, overhead: total - allocated, total };
}

/** The largest generate batch (at most 256) whose peak fits in `memoryBytes`; 0 when not even one does. */
export function largestSampleBatch(j: Omit<SampleJobShape, 'batch'>, memoryBytes: number): number {
  let lo = 0;
  let hi = K.maxGenerateBatch;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (samplePeak({ ...j, batch: mid }).total <= memoryBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
