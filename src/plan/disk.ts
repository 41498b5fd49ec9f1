import { loraParams, paramCount, type ModelShape } from './models';

/**
 * Disk a GPU job needs on its machine, so a rented pod is not given a container disk its model cannot fit on
 * (a 32B model's ~64 GB of bf16 weights on a 50 GB disk fails with ENOSPC on every retry).
 */
export interface JobDiskNeeds {
  /** Parameters of the base model whose weights are downloaded to the machine (0: built in memory, random init). */
  downloadedParams: number;
  /** Parameters the job trains and checkpoints (0: sampling only). */
  trainedParams: number;
}

const GB = 1e9; // RunPod sizes disks in decimal GB
/** bf16 weights as published (safetensors). */
const WEIGHT_BYTES = 2;
/** A checkpoint holds each trained parameter in fp32 with Adam's two fp32 moments. */
const CHECKPOINT_BYTES_PER_TRAINED = 12;
/** Checkpoints on the machine at once: the two kept plus the one being written. */
const CHECKPOINTS_ON_DISK = 3;
/** The final output: the trained weights in fp32. */
const OUTPUT_BYTES_PER_TRAINED = 4;
/** Image layers, Python packages, caches, logs. */
const FIXED_MARGIN_GB = 15;
const MARGIN_FACTOR = 1.2;

/** GB of container disk for the job: weights + checkpoints + output, with margin, never below `floorGb`. */
export function estimateJobDiskGb(needs: JobDiskNeeds, floorGb = 0): number {
  const bytes =
    needs.downloadedParams * WEIGHT_BYTES +
    needs.trainedParams * (CHECKPOINT_BYTES_PER_TRAINED * CHECKPOINTS_ON_DISK + OUTPUT_BYTES_PER_TRAINED);
  return Math.max(floorGb, Math.ceil((bytes / GB) * MARGIN_FACTOR + FIXED_MARGIN_GB));
}

/** A training or sampling job's needs from its model's shape. */
export function diskNeedsOf(
  shape: ModelShape,
  job: { pretrained: boolean; training?: { method: 'lora' | 'full'; loraR: number } },
): JobDiskNeeds {
  const params = paramCount(shape);
  const t = job.training;
  return {
    downloadedParams: job.pretrained ? params : 0,
    trainedParams: !t ? 0 : t.method === 'full' ? params : loraParams(shape, t.loraR),
  };
}
