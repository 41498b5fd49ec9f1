// The workflow bundle of the stubbed-activity tests: msm's own workflows, with the children that generate
// data (corpus, AFT data) replaced by workflows that return a fixed result at once. The experiment starts
// children by their type name, so these stand in for the real ones. The corpus and AFT data workflows
// themselves are tested on src/workflows/index.ts (startStubbedEnv's 'msm' code).
import type { CorpusManifestRef } from '../../src/corpus/types';

export { msmExperiment } from '../../src/workflows/experiment';
export { trainingRun } from '../../src/workflows/training';
export { evaluationRun } from '../../src/workflows/evaluation';
export { humanLabelsImport, reportRun } from '../../src/workflows/report';
export { msmSweep } from '../../src/workflows/sweep';
export { msmReaper } from '../../src/workflows/reaper';

export async function corpusGeneration(): Promise<CorpusManifestRef> {
  return {
    manifestKey: 'corpus/stub/manifest.json',
    hash: 'corpus-stub',
    documents: 12,
    duplicatesRemoved: 0,
    truncatedDropped: 0,
    truncated: 0,
    shardKeys: ['corpus/stub/shard-0.jsonl'],
    documentUsage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
  };
}
