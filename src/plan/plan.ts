import type { Experiment, TrainHyperSettings } from '../config/experiment-schema';
import { gpuMemoryGiB, moreGpusHint, worldOf, worldSize } from '../config/compute-shape';
import { GIB, largestSampleBatch, samplePeak, trainPeak, type Breakdown, type TrainJobShape } from './memory';
import { diskNeedsOf, estimateJobDiskGb } from './disk';
import type { ModelShape } from './models';
import { needsMidtraining, needsPlacebo, resolveArms } from '../config/arms';

/** What the planner knows beyond the experiment: the model's shape (or why not) and the longest eval prompt. */
export interface PlanInputs {
  model: { shape: ModelShape; label: string; source: string } | { unknown: string; label: string };
  /** Tokens of the longest eval prompt, chat template included (an estimate). */
  promptTokens: number;
}

export type Verdict = 'fits' | 'does not fit' | 'no GPU check' | 'shape unknown';

export interface JobPlan {
  job: 'midtrain' | 'aft' | 'eval generate';
  line: string;
  verdict: Verdict;
  fixes: string[];
  /** A job that fits as set but would also fit a faster way (less recomputation). */
  faster?: string;
  gpus: number;
  /** GiB per GPU (absent when the model's shape is unknown). */
  peakGiB?: number;
  breakdownGiB?: Omit<Breakdown, 'total'>;
  /** Training: the micro-batch the job runs with. */
  microBatchSize?: number;
  /** Sampling on a GPU: the generate batch the job runs with. */
  generateBatch?: number;
  /** GB of disk the job needs on its machine (weights, checkpoints, margin); the RunPod backend sizes pods by it. */
  diskGb?: number;
}

export interface ExperimentPlan {
  model: string;
  modelSource: string;
  gpuMemoryGiB: number | null;
  fits: boolean;
  jobs: JobPlan[];
}

/** The planner's default micro-batch, lowered to a divisor of the per-rank share of batchSize. */
export const DEFAULT_MICRO_BATCH = 4;
const MAX_GPUS_SEARCHED = 64;

const gib = (bytes: number) => Math.round((bytes / GIB) * 10) / 10;

/** Micro-batches a rank can run: divisors of its share of batchSize, at most `cap`, largest first. */
function microCandidates(share: number, cap: number): number[] {
  const out: number[] = [];
  for (let m = Math.min(cap, share); m >= 1; m--) if (share % m === 0) out.push(m);
  return out;
}

/** The micro-batch a job runs with when memory is not checked (or for runs planned before microBatchSize). */
export function defaultMicroBatch(batchSize: number, gpus: number): number {
  return microCandidates(Math.max(1, Math.floor(batchSize / gpus)), DEFAULT_MICRO_BATCH)[0];
}

interface TrainSetting {
  method: 'lora' | 'full';
  checkpointing: boolean | number;
  gpus: number;
  /** A micro-batch the user fixed; absent: the planner picks. */
  micro?: number;
}

type BaseShape = Omit<TrainJobShape, 'microBatch' | 'world' | 'method' | 'checkpointing'>;
interface Tried {
  micro: number;
  peak: Breakdown;
  fits: boolean;
}

/** The largest micro-batch that fits under `s` (or the smallest tried, when none does) and its peak. */
function bestMicro(base: BaseShape, batchSize: number, s: TrainSetting, memory?: number): Tried {
  const share = Math.max(1, Math.floor(batchSize / s.gpus));
  const tries = s.micro !== undefined ? [s.micro] : microCandidates(share, DEFAULT_MICRO_BATCH);
  let last: Tried | undefined;
  for (const micro of tries) {
    const peak = trainPeak({
      ...base,
      method: s.method,
      checkpointing: s.checkpointing,
      world: s.gpus,
      microBatch: micro,
    });
    last = { micro, peak, fits: memory === undefined || peak.total <= memory };
    if (last.fits) break;
  }
  return last!;
}

const at = (r: Tried) => `micro ${r.micro} → ${gib(r.peak.total)} GiB/GPU`;

/** The smallest GPU count that fits, as is and (when it lowers the count) with checkpointing turned on. */
function moreGpusFix(
  base: BaseShape,
  batchSize: number,
  s: TrainSetting,
  memory: number,
  hint: (gpus: number) => string,
): string | undefined {
  const search = (checkpointing: boolean | number) => {
    for (let gpus = s.gpus + 1; gpus <= MAX_GPUS_SEARCHED; gpus++) {
      const r = bestMicro(base, batchSize, { ...s, micro: undefined, checkpointing, gpus }, memory);
      if (r.fits) return { gpus, r };
    }
    return undefined;
  };
  const describe = (f: { gpus: number; r: Tried }, extra: string) =>
    `${f.gpus}${extra} (${hint(f.gpus)}${multiple(batchSize, f.gpus)}; ${at(f.r)})`;
  const same = search(s.checkpointing);
  // Checkpointing costs less than GPUs: say so when it lowers the count needed.
  const withCkpt = s.checkpointing === true ? undefined : search(true);
  const options = [
    same ? describe(same, '') : '',
    withCkpt && (!same || withCkpt.gpus < same.gpus) ? describe(withCkpt, ' with gradientCheckpointing: true') : '',
  ].filter(Boolean);
  return options.length ? `more GPUs: ${options.join(', or ')}` : undefined;
}

/** LoRA at the same world, with checkpointing when LoRA needs it too. */
function loraFix(base: BaseShape, batchSize: number, s: TrainSetting, memory: number): string | undefined {
  const lora = { ...s, micro: undefined, method: 'lora' as const };
  const r = bestMicro(base, batchSize, lora, memory);
  if (r.fits) return `LoRA instead of full: method: lora (${at(r)})`;
  if (s.checkpointing) return undefined;
  const rc = bestMicro(base, batchSize, { ...lora, checkpointing: true }, memory);
  return rc.fits ? `LoRA instead of full: method: lora, gradientCheckpointing: true (${at(rc)})` : undefined;
}

/** Partial gradient checkpointing tried by the planner, least recomputation first. */
const CHECKPOINT_FRACTIONS = [0.25, 0.5, 0.75];

/** The smallest fraction of layers to checkpoint, above the job's own, that fits (at `micro` when given). */
function leastCheckpointing(
  base: BaseShape,
  batchSize: number,
  s: TrainSetting,
  memory: number,
  micro?: number,
): { fraction: number; r: Tried } | undefined {
  const above = s.checkpointing === true ? 0 : Number(s.checkpointing);
  for (const fraction of CHECKPOINT_FRACTIONS.filter((f) => f > above)) {
    const r = bestMicro(base, batchSize, { ...s, micro, checkpointing: fraction }, memory);
    if (r.fits) return { fraction, r };
  }
  return undefined;
}

/** A job checkpointing every layer whose memory allows fewer at the same micro-batch: say how. */
function fasterCheckpointing(base: BaseShape, batchSize: number, s: TrainSetting, chosen: Tried, memory?: number) {
  if (s.checkpointing !== true || memory === undefined) return undefined;
  const none = bestMicro(base, batchSize, { ...s, micro: chosen.micro, checkpointing: false }, memory);
  if (none.fits) return `gradientCheckpointing: false also fits (${at(none)}) and recomputes nothing: faster steps`;
  const less = leastCheckpointing(base, batchSize, s, memory, chosen.micro);
  return less
    ? `gradientCheckpointing: ${less.fraction} also fits (${at(less.r)}) and recomputes ${less.fraction * 100}% of the layers instead of all: faster steps`
    : undefined;
}

/** The fixes of a training job that does not fit, cheapest first, each with the figure it reaches. */
function trainFixes(
  base: BaseShape,
  batchSize: number,
  s: TrainSetting,
  memory: number,
  hint: (gpus: number) => string,
): string[] {
  const fixes: Array<string | undefined> = [];
  if (s.micro !== undefined && s.micro > 1) {
    const r = bestMicro(base, batchSize, { ...s, micro: undefined }, memory);
    if (r.fits)
      fixes.push(`smaller micro-batch: microBatchSize: ${r.micro}, or leave it out and the planner picks (${at(r)})`);
  }
  if (s.checkpointing !== true) {
    const partial = leastCheckpointing(base, batchSize, { ...s, micro: undefined }, memory);
    if (partial)
      fixes.push(
        `gradient checkpointing of part of the layers: gradientCheckpointing: ${partial.fraction} (${at(partial.r)})`,
      );
    const r = bestMicro(base, batchSize, { ...s, micro: undefined, checkpointing: true }, memory);
    if (r.fits) fixes.push(`gradient checkpointing: gradientCheckpointing: true (${at(r)})`);
  }
  fixes.push(moreGpusFix(base, batchSize, s, memory, hint));
  if (s.method === 'full') fixes.push(loraFix(base, batchSize, s, memory));
  const found = fixes.filter((f): f is string => f !== undefined);
  return found.length ? found : [`nothing found up to ${MAX_GPUS_SEARCHED} GPUs: use GPUs with more memory`];
}

const multiple = (batchSize: number, gpus: number) =>
  batchSize % gpus === 0 ? '' : `, a batchSize that is a multiple of ${gpus}`;

const breakdownGiB = (b: Breakdown) => ({
  weights: gib(b.weights),
  optimizer: gib(b.optimizer),
  activations: gib(b.activations),
  loss: gib(b.loss),
  overhead: gib(b.overhead),
});

function verdictText(v: Verdict, memory: number | undefined, device: string): string {
  if (v === 'fits' || v === 'does not fit') return ` of ${memory}: ${v}`;
  return device === 'cpu'
    ? ': device cpu, no GPU check applies'
    : ': GPU memory unknown, no check (set compute.gpuMemoryGiB)';
}

function planTraining(
  job: 'midtrain' | 'aft',
  h: TrainHyperSettings,
  seqLen: number,
  x: Experiment,
  inputs: PlanInputs,
): JobPlan {
  const gpus = worldSize(worldOf(x.compute));
  const unit = x.compute.device === 'cpu' ? (gpus === 1 ? 'process' : 'processes') : gpus === 1 ? 'GPU' : 'GPUs';
  const head = `${job}: ${inputs.model.label} ${h.method} seq ${seqLen}`;
  if (!('shape' in inputs.model)) {
    const micro = h.microBatchSize ?? defaultMicroBatch(h.batchSize, gpus);
    return {
      job,
      line: `${head} micro ${micro} × ${gpus} ${unit}: ${inputs.model.unknown}`,
      verdict: 'shape unknown',
      fixes: [],
      gpus,
      microBatchSize: micro,
    };
  }
  const memGiB = gpuMemoryGiB(x.compute);
  const memory = memGiB === undefined ? undefined : memGiB * GIB;
  const base = { model: inputs.model.shape, loraR: h.loraR, seqLen };
  const setting: TrainSetting = {
    method: h.method,
    checkpointing: h.gradientCheckpointing,
    gpus,
    micro: h.microBatchSize,
  };
  const r = bestMicro(base, h.batchSize, setting, memory);
  const verdict: Verdict = memory === undefined ? 'no GPU check' : r.fits ? 'fits' : 'does not fit';
  const hint = (n: number) => moreGpusHint(x.compute, n);
  return {
    job,
    line: `${head} micro ${r.micro} × ${gpus} ${unit} → ${gib(r.peak.total)} GiB${x.compute.device === 'cpu' ? '' : '/GPU'}${verdictText(verdict, memGiB, x.compute.device)}`,
    verdict,
    fixes: verdict === 'does not fit' ? trainFixes(base, h.batchSize, setting, memory!, hint) : [],
    faster: verdict === 'fits' ? fasterCheckpointing(base, h.batchSize, setting, r, memory) : undefined,
    gpus,
    peakGiB: gib(r.peak.total),
    breakdownGiB: breakdownGiB(r.peak),
    microBatchSize: r.micro,
  };
}

function planSampling(x: Experiment, inputs: PlanInputs): JobPlan {
  const e = x.eval;
  const head = `eval generate: ${inputs.model.label} bf16, prompt ≤ ${inputs.promptTokens} + ${e.maxNewTokens} new tokens`;
  if (!('shape' in inputs.model))
    return {
      job: 'eval generate',
      line: `${head}: ${inputs.model.unknown}`,
      verdict: 'shape unknown',
      fixes: [],
      gpus: 1,
    };
  const memGiB = gpuMemoryGiB(x.compute);
  const job = { model: inputs.model.shape, promptTokens: inputs.promptTokens, maxNewTokens: e.maxNewTokens };
  const unit = x.compute.device === 'cpu' ? 'process' : 'GPU';
  if (memGiB === undefined) {
    const batch = e.batchSize ?? 1;
    const peak = samplePeak({ ...job, batch });
    const line = `${head}, batch ${batch} × 1 ${unit} → ${gib(peak.total)} GiB${unit === 'GPU' ? '/GPU' : ''}${verdictText('no GPU check', memGiB, x.compute.device)}`;
    return {
      job: 'eval generate',
      line,
      verdict: 'no GPU check',
      fixes: [],
      gpus: 1,
      peakGiB: gib(peak.total),
      breakdownGiB: breakdownGiB(peak),
    };
  }
  const largest = largestSampleBatch(job, memGiB * GIB);
  const batch = e.batchSize ?? Math.max(1, largest);
  const peak = samplePeak({ ...job, batch });
  const verdict: Verdict = peak.total <= memGiB * GIB ? 'fits' : 'does not fit';
  const fixes =
    verdict === 'fits'
      ? []
      : largest > 0
        ? [`smaller generate batch: eval.batchSize: ${largest}, or leave it out and the planner picks`]
        : [
            `the bf16 model alone needs ${gib(samplePeak({ ...job, batch: 1 }).total)} GiB with one sequence and sampling runs on one GPU: use a GPU with more memory, or lower eval.maxNewTokens`,
          ];
  const line = `${head}, batch ${batch} × 1 GPU → ${gib(peak.total)} GiB/GPU${verdictText(verdict, memGiB, x.compute.device)}`;
  return {
    job: 'eval generate',
    line,
    verdict,
    fixes,
    gpus: 1,
    peakGiB: gib(peak.total),
    breakdownGiB: breakdownGiB(peak),
    generateBatch: batch,
  };
}

/** A GPU job's disk (the RunPod floor, compute.containerDiskGb, applies there), when the model's shape is known. */
function jobDiskGb(j: JobPlan, x: Experiment, inputs: PlanInputs): number | undefined {
  if (!('shape' in inputs.model)) return undefined;
  const h = j.job === 'midtrain' ? x.midtrain : j.job === 'aft' ? x.aft.hyper : undefined;
  const needs = diskNeedsOf(inputs.model.shape, {
    pretrained: x.baseModel.init === 'pretrained',
    training: h && { method: h.method, loraR: h.loraR },
  });
  return estimateJobDiskGb(needs, x.compute.backend === 'runpod' ? x.compute.containerDiskGb : 0);
}

/** One plan line per distinct job shape: midtraining (when an msm or placebo arm runs: one shape), the AFT cells, sampling. */
export function planExperiment(x: Experiment, inputs: PlanInputs): ExperimentPlan {
  const jobs: JobPlan[] = [];
  const arms = resolveArms(x.aft.arms);
  if (needsMidtraining(arms) || needsPlacebo(arms))
    jobs.push(planTraining('midtrain', x.midtrain, x.tokenization.seqLen, x, inputs));
  jobs.push(planTraining('aft', x.aft.hyper, x.aft.seqLen, x, inputs));
  jobs.push(planSampling(x, inputs));
  if (x.compute.device !== 'cpu') for (const j of jobs) j.diskGb = jobDiskGb(j, x, inputs);
  const memory = gpuMemoryGiB(x.compute);
  const m = inputs.model;
  return {
    model: m.label,
    modelSource: 'shape' in m ? m.source : m.unknown,
    gpuMemoryGiB: memory ?? null,
    fits: jobs.every((j) => j.verdict !== 'does not fit'),
    jobs,
  };
}

/** The plan as text: one line per job, and under a job that does not fit its fixes, cheapest first. */
export function formatPlan(plan: ExperimentPlan): string {
  const lines = [`model: ${plan.model} (${plan.modelSource})`];
  for (const j of plan.jobs) {
    lines.push(j.line);
    j.fixes.forEach((f, i) => lines.push(`  fix ${i + 1}: ${f}`));
    if (j.faster) lines.push(`  faster: ${j.faster}`);
    if (j.diskGb !== undefined) lines.push(`  disk: ${j.diskGb} GB (weights, checkpoints, margin)`);
  }
  return lines.join('\n');
}

/** The experiment with what the planner resolved: each training job's micro-batch, and the GPU generate batch. */
export function applyPlan(x: Experiment, plan: ExperimentPlan): Experiment {
  const micro = (job: JobPlan['job'], h: TrainHyperSettings) =>
    plan.jobs.find((j) => j.job === job)?.microBatchSize ?? h.microBatchSize;
  const batch = plan.jobs.find((j) => j.job === 'eval generate')?.generateBatch;
  return {
    ...x,
    midtrain: {
      ...x.midtrain,
      microBatchSize:
        micro('midtrain', x.midtrain) ?? defaultMicroBatch(x.midtrain.batchSize, worldSize(worldOf(x.compute))),
    },
    aft: {
      ...x.aft,
      hyper: {
        ...x.aft.hyper,
        microBatchSize:
          micro('aft', x.aft.hyper) ?? defaultMicroBatch(x.aft.hyper.batchSize, worldSize(worldOf(x.compute))),
      },
    },
    eval: { ...x.eval, ...(batch !== undefined ? { batchSize: batch } : {}) },
  };
}

export class PlanRefusedError extends Error {
  constructor(
    readonly plan: ExperimentPlan,
    source: string,
  ) {
    super(
      `${source}: a job cannot fit in GPU memory (estimates of the memory planner, \`msm plan\`):\n${formatPlan(plan)}`,
    );
    this.name = 'PlanRefusedError';
  }
}

/** Throws PlanRefusedError, naming the fixes, when any job of the plan cannot fit. */
export function assertFits(plan: ExperimentPlan, source: string): void {
  if (!plan.fits) throw new PlanRefusedError(plan, source);
}
