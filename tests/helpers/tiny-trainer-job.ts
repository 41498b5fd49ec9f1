import path from 'node:path';
import { midtrainHyper } from '../../src/config/midtrain';
import { pathToFileURL } from 'node:url';
import type { TokenizedRef, TrainRequest } from '../../src/activities/types';
import type { Experiment } from '../../src/config/experiment-schema';
import { openStore } from '../../src/store/open-store';
import type { TrainHyper, TrainerJobManifest } from '../../src/training/job';
import { PackedWriter } from '../../src/tokenize/packed-writer';

/** Tiny trainer jobs for backend tests: a random two-layer Llama on learnable token rows, on CPU. */
const VOCAB = 64;
export const TINY_MODEL = {
  init: 'random',
  hiddenSize: 32,
  numLayers: 2,
  numHeads: 4,
  intermediateSize: 64,
  initSeed: 7,
} as const;

/** A packed dataset of `rows` x `seqLen` tokens (each row counts up by its own stride). */
export async function writeTinyDataset(dir: string, rows = 40, seqLen = 32): Promise<TokenizedRef> {
  const store = openStore(pathToFileURL(dir).href);
  const w = await PackedWriter.create({ seqLen, padId: 0, withLossMask: false });
  try {
    for (let r = 0; r < rows; r++) {
      const start = 2 + ((r * 7) % (VOCAB - 2));
      const stride = 1 + (r % 3);
      await w.appendRow(
        Array.from({ length: seqLen }, (_, i) => 2 + ((start + stride * i) % (VOCAB - 2))),
        null,
      );
    }
    const res = await w.finish(store, 'data', {
      tokenizer: 'llama3.1',
      tokenizerSha256: 'none',
      numDocuments: rows,
      padId: 0,
      eosId: 1,
      vocabSize: VOCAB,
      shuffleSeed: null,
    });
    return {
      manifestUri: res.manifestUri,
      sha256: res.sha256,
      numSequences: res.numSequences,
      numTokens: res.numTokens,
      tokenizerUri: 'file:///unused/tokenizer.json',
      vocabSize: VOCAB,
    };
  } finally {
    await w.dispose();
  }
}

export function tinyTrainManifest(
  root: string,
  dataUri: string,
  name: string,
  hyper: Partial<TrainHyper> = {},
): TrainerJobManifest {
  const run = path.join(root, name);
  return {
    kind: 'midtrain',
    jobId: `test-${name}`,
    baseModel: { ...TINY_MODEL, vocabSize: VOCAB },
    tokenizerUri: 'file:///unused/tokenizer.json',
    dataUri,
    hyper: {
      method: 'lora',
      loraR: 4,
      loraAlpha: 8,
      loraDropout: 0,
      lr: 1e-2,
      warmupRatio: 0.1,
      weightDecay: 0.01,
      batchSize: 4,
      epochs: 1,
      maxSteps: 0,
      checkpointEverySteps: 0,
      checkpointEveryMinutes: 0,
      ...hyper,
    },
    checkpointPrefix: pathToFileURL(path.join(run, 'checkpoints')).href,
    outputUri: pathToFileURL(path.join(run, 'final')).href,
    seed: 3,
    device: 'cpu',
  };
}

/** A midtraining request (the runTraining activity's, trainingRun's input) for a parsed tiny experiment. */
export function midtrainRequest(storeDir: string, label: string, data: TokenizedRef, x: Experiment): TrainRequest {
  return {
    kind: 'midtrain',
    storeUri: pathToFileURL(storeDir).href,
    label,
    data,
    seed: 3,
    experiment: x,
    hyper: midtrainHyper(x.midtrain),
  };
}
