import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { diskNeedsOf, type JobDiskNeeds } from '../plan/disk';
import { KNOWN_MODELS, knownModelKey, shapeFromHfConfig, type ModelShape } from '../plan/models';
import type { TrainerJobManifest } from '../training/job';
import { trainHyperSchema } from '../training/manifest-schema';

/** The shape of a manifest's base model when this worker can tell: random-init sizes, a local config.json, the known table. */
function manifestShape(m: TrainerJobManifest): ModelShape | undefined {
  const b = m.baseModel;
  if (b.init === 'random') {
    const { hiddenSize: hidden, numLayers: layers, numHeads: heads, intermediateSize, vocabSize: vocab } = b;
    if (!hidden || !layers || !heads || !intermediateSize || !vocab) return undefined;
    const headDim = hidden / heads;
    return { hidden, layers, heads, kvHeads: heads, headDim, intermediate: intermediateSize, vocab, tied: false };
  }
  if (!b.path) return undefined;
  const config = path.join(b.path, 'config.json');
  if (existsSync(config)) {
    try {
      return shapeFromHfConfig(JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>, config);
    } catch {
      return undefined;
    }
  }
  const key = knownModelKey(b.path);
  return key ? KNOWN_MODELS[key] : undefined;
}

/** The job's disk needs, or undefined when its model's size is unknown here (the configured floor applies). */
export function jobDiskNeeds(m: TrainerJobManifest): JobDiskNeeds | undefined {
  const shape = manifestShape(m);
  if (!shape) return undefined;
  const trains = (m.kind === 'midtrain' || m.kind === 'aft') && m.hyper;
  return diskNeedsOf(shape, {
    pretrained: m.baseModel.init === 'pretrained',
    // An absent loraR is the schema's default, as the trainer fills it.
    training: trains
      ? { method: m.hyper!.method, loraR: trainHyperSchema.shape.loraR.parse(m.hyper!.loraR) }
      : undefined,
  });
}
