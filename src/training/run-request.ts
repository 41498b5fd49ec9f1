import type { ComputeUsage } from '../cost/compute-usage';
import { defaultMicroBatch } from '../plan/plan';
import { worldOf } from '../config/compute-shape';
import { contentId, sha256Hex } from '../util/hash';
import type { JobWorld, TrainerJobManifest, TrainHyper } from './job';
import type { TrainRequest, TrainResult } from './types';

/**
 * The hyper-parameters that shape the result: activation recomputation and the micro-batch (gradient
 * accumulation makes up the same effective batch) only trade memory for time, and compilation only
 * speed, so none is in a run's key (and runs from before they existed are reused).
 */
export function resultHyper(
  h: TrainRequest['hyper'],
): Omit<TrainRequest['hyper'], 'gradientCheckpointing' | 'compile' | 'microBatchSize'> {
  const { gradientCheckpointing: _memoryOnly, compile: _speedOnly, microBatchSize: _memoryToo, ...rest } = h;
  return rest;
}

/**
 * The manifest's hyper-parameters: the micro-batch is always explicit. Experiments loaded since the
 * planner carry the one it chose; a run loaded before gets the planner's default for its world.
 */
export function jobHyper(h: TrainRequest['hyper'], world: JobWorld): TrainHyper {
  return { ...h, microBatchSize: h.microBatchSize ?? defaultMicroBatch(h.batchSize, world.nodes * world.procsPerNode) };
}

/** The trainer records its resumes in the run's metrics, so they survive whichever attempt finishes it. */
export function trainResult(
  outputUri: string,
  runKey: string,
  metrics: Record<string, number>,
  compute: ComputeUsage,
): TrainResult {
  return {
    outputUri,
    runKey,
    metrics,
    resumedFromStep: metrics.resumed_from_step ?? null,
    preemptions: metrics.resumes ?? 0,
    compute,
  };
}

/** The trainer's learning-rate schedule, in every run key: runs of the old one (lr 0 at step 0) are not reused. */
export const LR_SCHEDULE = 'warmup-from-step-1';

/** The run folder of a training request: derived from every input, so equal runs are reused. */
export function runKeyOf(req: TrainRequest): string {
  return `runs/${req.label}-${contentId({
    lrSchedule: LR_SCHEDULE,
    kind: req.kind,
    data: req.data.sha256,
    fraction: req.fraction ?? 1,
    seed: req.seed,
    initFrom: req.initFrom?.outputUri ?? null,
    base: req.experiment.baseModel,
    hyper: resultHyper(req.hyper),
    // Only when set, so runs from before these options keep their keys (and are reused).
    ...(req.freshAdapter ? { freshAdapter: true } : {}),
    ...(req.mix ? { mix: { data: req.mix.data.sha256, ratio: req.mix.ratio } } : {}),
    ...(req.subsetBySeed ? { subsetBySeed: true } : {}),
  })}`;
}

/**
 * The compute job of an output: readable (its key) and unique per store, so two experiments whose runs
 * hash the same but write to different stores never share a job folder, a lock or an event stream.
 */
export function jobIdFor(outputUri: string): string {
  const key = outputUri
    .replace(/^[a-z0-9+.-]+:\/\//i, '')
    .split('/')
    .slice(-2)
    .join('_');
  return `${key}-${sha256Hex(outputUri).slice(0, 8)}`;
}

/** The trainer job of a training request: its data, its start point, the hyper-parameters and where it writes. */
export function trainManifest(
  req: TrainRequest,
  jobId: string,
  uri: (key: string) => string,
  runKey: string,
): TrainerJobManifest {
  const b = req.experiment.baseModel;
  const world = worldOf(req.experiment.compute);
  return {
    kind: req.kind,
    jobId,
    baseModel: {
      init: b.init,
      path: b.path,
      hiddenSize: b.hiddenSize,
      numLayers: b.numLayers,
      numHeads: b.numHeads,
      intermediateSize: b.intermediateSize,
      vocabSize: req.data.vocabSize,
      initSeed: b.initSeed,
    },
    tokenizerUri: req.data.tokenizerUri,
    dataUri: req.data.manifestUri,
    fraction: req.fraction,
    initFromUri: req.initFrom?.outputUri,
    ...(req.freshAdapter ? { freshAdapter: true } : {}),
    ...(req.mix ? { mixDataUri: req.mix.data.manifestUri, mixRatio: req.mix.ratio } : {}),
    ...(req.subsetBySeed ? { subsetBySeed: true } : {}),
    hyper: jobHyper(req.hyper, world),
    world,
    checkpointPrefix: uri(`${runKey}/checkpoints`),
    outputUri: uri(`${runKey}/final`),
    seed: req.seed,
    device: req.experiment.compute.device,
    ...(req.experiment.logging?.wandb ? { logging: { wandb: req.experiment.logging.wandb } } : {}),
  };
}
