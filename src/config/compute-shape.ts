/**
 * What a compute setting gives a job: its world (nodes × processes per node) and the memory of one GPU.
 * Pure (no I/O): the experiment schema validates with it, and the workflow bundle imports the schema.
 */

export interface World {
  nodes: number;
  procsPerNode: number;
}

/** The compute fields these derivations read (a structural subset of the schema's compute union). */
export type ComputeLike =
  | { backend: 'local'; device: string; gpus?: number; gpuMemoryGiB?: number }
  | {
      backend: 'ssh';
      device: string;
      host: string;
      hosts?: readonly string[];
      gpusPerHost?: number;
      gpuMemoryGiB?: number;
    }
  | { backend: 'runpod'; device: string; gpuType: string; gpuCount: number; gpuMemoryGiB?: number }
  | { backend: 'slurm'; device: string; nodes: number; gpusPerNode: number; gpuMemoryGiB?: number };

/**
 * Usable GiB per GPU of the RunPod types the planner knows, matched in order against the type id (e.g.
 * "NVIDIA H100 80GB HBM3"). Figures are what `torch.cuda.mem_get_info` reports as total, not the label.
 */
export const KNOWN_GPU_TYPES: ReadonlyArray<{ pattern: RegExp; label: string; gib: number }> = [
  { pattern: /H200/i, label: 'H200 141GB', gib: 139.8 },
  { pattern: /H100/i, label: 'H100 80GB', gib: 79.2 },
  { pattern: /A100.*80\s*GB/i, label: 'A100 80GB', gib: 79.2 },
  { pattern: /A100/i, label: 'A100 40GB', gib: 39.4 },
  { pattern: /L40S|\bA40\b/i, label: 'L40S / A40', gib: 44.4 },
  { pattern: /4090/, label: 'RTX 4090', gib: 23.6 },
];

export function knownGpuMemoryGiB(gpuType: string): number | undefined {
  return KNOWN_GPU_TYPES.find((t) => t.pattern.test(gpuType))?.gib;
}

/** The world of a training job on this compute; sampling jobs always run 1 × 1. */
export function worldOf(compute: ComputeLike): World {
  if (compute.backend === 'runpod') return { nodes: 1, procsPerNode: compute.gpuCount };
  if (compute.backend === 'slurm') return { nodes: compute.nodes, procsPerNode: compute.gpusPerNode };
  if (compute.backend === 'ssh')
    return { nodes: Math.max(1, compute.hosts?.length ?? 1), procsPerNode: compute.gpusPerHost ?? 1 };
  return { nodes: 1, procsPerNode: compute.gpus ?? 1 };
}

export const worldSize = (w: World): number => w.nodes * w.procsPerNode;

/**
 * One entry of compute.hosts: "name" (the login port is compute.port) or "name:port". An entry with more
 * than one colon is an IPv6 address without a port.
 */
export function parseHostEntry(entry: string, defaultPort: number): { host: string; port: number } {
  const m = /^([^:]+):(\d+)$/.exec(entry);
  return m ? { host: m[1], port: Number(m[2]) } : { host: entry, port: defaultPort };
}

/** GiB of one GPU, or undefined when unknown (device cpu, or no gpuMemoryGiB given): then no GPU check. */
export function gpuMemoryGiB(compute: ComputeLike): number | undefined {
  if (compute.device === 'cpu') return undefined;
  if (compute.gpuMemoryGiB !== undefined) return compute.gpuMemoryGiB;
  return compute.backend === 'runpod' ? knownGpuMemoryGiB(compute.gpuType) : undefined;
}

/** How to ask for more GPUs on this backend, for the planner's fixes. */
export function moreGpusHint(compute: ComputeLike, gpus: number): string {
  if (compute.backend === 'runpod')
    return gpus <= 8 ? `compute.gpuCount: ${gpus}` : `${gpus} GPUs: more than one pod holds (8 at most); use ssh hosts`;
  if (compute.backend === 'ssh') return `${gpus} GPUs in all: compute.hosts × compute.gpusPerHost`;
  if (compute.backend === 'slurm') return `${gpus} GPUs in all: compute.nodes × compute.gpusPerNode`;
  return `compute.gpus: ${gpus}`;
}
