// The workflow bundle of the stubbed-activity tests: msm's own workflows, with the children that generate
// data (corpus, AFT data) replaced by workflows that return a fixed result at once. The experiment starts
// children by their type name, so these stand in for the real ones. The corpus and AFT data workflows
// themselves are tested on src/workflows/index.ts (startStubbedEnv's 'msm' code).
import type { AftDataJob, AftDataResult } from '../../src/aft-data/types';
import type { CorpusJob, CorpusManifestRef } from '../../src/corpus/types';

export { msmExperiment } from '../../src/workflows/experiment';
export { trainingRun } from '../../src/workflows/training';
export { evaluationRun } from '../../src/workflows/evaluation';
export { humanLabelsImport, reportRun } from '../../src/workflows/report';
export { msmSweep } from '../../src/workflows/sweep';
export { msmReaper } from '../../src/workflows/reaper';

/** Keyed by the spec it was asked for (and its draw), so a test can tell the MSM corpus from the placebo's. */
export async function corpusGeneration(job: CorpusJob): Promise<CorpusManifestRef> {
  const name = `stub-${job.specHash}${job.draw ? `-draw${job.draw}` : ''}`;
  return {
    manifestKey: `corpus/${name}/manifest.json`,
    hash: `corpus-${name}`,
    documents: 12,
    duplicatesRemoved: 0,
    truncatedDropped: 0,
    truncated: 0,
    shardKeys: [`corpus/${name}/shard-0.jsonl`],
    documentUsage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
  };
}

/** Keyed by the spec it was asked for, so a test can tell which spec the AFT data was generated from. */
export async function aftDataGeneration(job: AftDataJob): Promise<AftDataResult> {
  const file = (name: string) => ({
    key: `aftdata/stub-${job.specHash}/${name}.jsonl`,
    sha256: `${job.specHash}-${name}`,
  });
  const n = job.generate.count;
  return {
    manifestKey: `aftdata/stub-${job.specHash}/manifest.json`,
    withReasoning: file('with-reasoning'),
    withoutReasoning: file('without-reasoning'),
    examples: n,
    counts: {
      requested: n,
      examples: n,
      shortfall: 0,
      domains: 2,
      questionsGenerated: n,
      duplicates: 0,
      answered: n,
      malformed: 0,
      excludedByFilter: 0,
      included: n,
      rounds: 1,
      backfillRounds: 0,
    },
    usage: { calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
  };
}
