import { GPU_TABLE, type GpuRow } from './prices';

/**
 * Tokens per second per GPU that `msm plan` turns token counts into GPU-hours with. A measured row is a
 * BENCHMARKS.md figure (the bench that made it is named); any job without one is estimated from FLOPs at a
 * stated utilisation (estimateTokensPerSecond), and the plan says which. Add a row when a bench measures one.
 */
export type ThroughputMethod = 'lora' | 'full' | 'generate';

export interface ThroughputRow {
  /** A key of KNOWN_MODELS, or 'gemma3-270m' etc. */
  model: string;
  /** A GPU_TABLE name, or 'cpu'. */
  gpu: string;
  method: ThroughputMethod;
  /** Training: gradient checkpointing of every layer. Generate: unused. */
  checkpointing: boolean;
  tokensPerSecond: number;
  date: string;
  /** Where it was measured. */
  source: string;
}

export const THROUGHPUT: readonly ThroughputRow[] = [
  {
    model: 'llama-3.1-8b',
    gpu: 'H200',
    method: 'lora',
    checkpointing: false,
    tokensPerSecond: 11_928,
    date: '2026-11-28',
    source: 'BENCHMARKS.md train (bench/gpu-paper-models.sh), LoRA r64, 8 (2) × 4096, 1 GPU',
  },
  {
    model: 'llama-3.1-8b',
    gpu: 'H200',
    method: 'full',
    checkpointing: true,
    tokensPerSecond: 7_476,
    date: '2026-11-28',
    source: 'BENCHMARKS.md train (bench/gpu-paper-models.sh), full, checkpointed, 4 (1) × 4096, 1 GPU',
  },
  {
    model: 'qwen2.5-32b',
    gpu: 'H200',
    method: 'lora',
    checkpointing: true,
    tokensPerSecond: 2_581,
    date: '2026-11-28',
    source: 'BENCHMARKS.md train (bench/gpu-paper-models.sh), LoRA r64, checkpointed, 4 (1) × 4096, 1 GPU',
  },
  {
    model: 'gemma3-270m',
    gpu: 'cpu',
    method: 'generate',
    checkpointing: false,
    tokensPerSecond: 15.6,
    date: '2026-11-28',
    source: 'BENCHMARKS.md sample: 16 sequences × 24 tokens in 24.6 s, 2 loaded cores, fp32',
  },
];

/** Share of a GPU's dense bf16 peak the estimate assumes training does (BENCHMARKS.md measured 52–58% HFU). */
export const ESTIMATE_HFU = 0.45;
/** Share of the memory-bandwidth bound HF `generate` is assumed to reach (never measured on a GPU). */
export const DECODE_EFFICIENCY = 0.3;
/** A CPU as the estimate sees it: the demo's 2 cores, fp32 (2 × ~3 GHz × 32 FLOPs a cycle with AVX2 FMA). */
export const CPU_ROW: GpuRow = {
  gpu: 'cpu',
  pattern: /cpu/i,
  gib: 0,
  peakTflops: 0.19,
  bandwidthTBs: 0.02,
  usdPerHour: 0,
};

export interface Throughput {
  tokensPerSecond: number;
  measured: boolean;
  /** The row's source, or how the estimate was made. */
  basis: string;
}

export interface ThroughputJob {
  model: string;
  /** Parameters of the model (N in 6·N·tokens). */
  params: number;
  gpu: GpuRow;
  method: ThroughputMethod;
  checkpointing: boolean;
  /** Generate: sequences decoded together. */
  batch?: number;
}

/** Models of about the same size share a measured row (Qwen3-32B runs at Qwen2.5-32B's rate). */
const SIZE_TOLERANCE = 0.1;

/**
 * The measured row for this job (same model, or one within 10% of its parameters; same GPU, method and
 * checkpointing), else an estimate from FLOPs. `paramsOf` gives the parameters of a row's model.
 */
export function throughputOf(job: ThroughputJob, paramsOf: (model: string) => number | undefined): Throughput {
  const rows = THROUGHPUT.filter(
    (r) =>
      r.gpu === job.gpu.gpu &&
      r.method === job.method &&
      (job.method === 'generate' || r.checkpointing === job.checkpointing),
  );
  const exact = rows.find((r) => r.model === job.model);
  const near =
    exact ??
    rows.find((r) => {
      const p = paramsOf(r.model);
      return p !== undefined && Math.abs(p - job.params) / job.params <= SIZE_TOLERANCE;
    });
  if (near)
    return {
      tokensPerSecond: near.tokensPerSecond,
      measured: true,
      basis: `measured ${near.date}${near.model === job.model ? '' : ` on ${near.model} (same size)`}: ${near.source}`,
    };
  return estimateTokensPerSecond(job);
}

/**
 * Training: hardware FLOPs per token are 6·N (full), 4·N (LoRA: no weight gradients of the frozen base), plus
 * 2·N recomputed with gradient checkpointing, at ESTIMATE_HFU of the peak. Generate: decoding is bound by
 * reading the weights once per step for the whole batch (bandwidth ÷ bf16 weight bytes × batch), or by
 * compute (2·N per token) when the batch is large, at DECODE_EFFICIENCY.
 */
export function estimateTokensPerSecond(job: ThroughputJob): Throughput {
  const peak = job.gpu.peakTflops * 1e12;
  if (job.method === 'generate') {
    const batch = Math.max(1, job.batch ?? 1);
    const memoryBound = (job.gpu.bandwidthTBs * 1e12 * batch) / (2 * job.params);
    const computeBound = (peak * ESTIMATE_HFU) / (2 * job.params);
    const tokensPerSecond = Math.min(memoryBound, computeBound) * DECODE_EFFICIENCY;
    return {
      tokensPerSecond,
      measured: false,
      basis: `estimate: min(bandwidth × batch ${batch} ÷ bf16 weights, ${ESTIMATE_HFU} × peak ÷ 2N) × ${DECODE_EFFICIENCY} (HF generate, static batches)`,
    };
  }
  const perToken = (job.method === 'full' ? 6 : 4) * job.params + (job.checkpointing ? 2 * job.params : 0);
  return {
    tokensPerSecond: (peak * ESTIMATE_HFU) / perToken,
    measured: false,
    basis: `estimate: ${ESTIMATE_HFU} × ${job.gpu.peakTflops} TFLOPS ÷ ${job.method === 'full' ? 6 : 4}N${job.checkpointing ? '+2N (checkpointing)' : ''} per token`,
  };
}

/** The GPU a compute block names: its gpuType, else the GPU whose memory it gives, else H100 (assumed). */
export function gpuOf(compute: { device: string; gpuType?: string; gpuMemoryGiB?: number }): {
  row: GpuRow;
  assumed: boolean;
} {
  if (compute.device === 'cpu') return { row: CPU_ROW, assumed: false };
  const byType = compute.gpuType ? GPU_TABLE.find((g) => g.pattern.test(compute.gpuType!)) : undefined;
  if (byType) return { row: byType, assumed: false };
  const byMemory = compute.gpuMemoryGiB
    ? GPU_TABLE.find((g) => Math.abs(g.gib - compute.gpuMemoryGiB!) < 1)
    : undefined;
  if (byMemory) return { row: byMemory, assumed: false };
  return { row: GPU_TABLE.find((g) => g.gpu === 'H100')!, assumed: true };
}
