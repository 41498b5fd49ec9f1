// An experiment's input and the stubbed activities of msmExperiment, shared by the stubbed-activity tests
// that run experiments (the experiment itself, a sweep's points, run controls, the report's request).
import type { DecontaminateRequest } from '../../src/eval/decontaminate';
import { parseExperiment, type ExperimentInput } from '../../src/config/experiment-schema';
import { resolveArms } from '../../src/config/arms';
import type { CapabilityRequest, CapabilityResult } from '../../src/eval/capabilities/types';
import type { EvalRequest, EvalSummary, SamplesRef } from '../../src/eval/types';
import type { ReportRequest, ReportResult } from '../../src/report/types';
import type { LoadedExperiment } from '../../src/config/loaded-experiment';
import type { TokenizedRef } from '../../src/tokenize/types';
import type { TrainRequest, TrainResult } from '../../src/training/types';
import { untilCancelled } from '../helpers/stubbed-workflows';

export const ALL_ARMS = ['base', 'msm-only', 'baseline', 'msm', 'deliberative', 'spec-in-context'];

/** An experiment as a file would give it (checked by the real loader in the loadExperiment stub). */
export function experiment(
  over: Record<string, unknown> = {},
  evalOver: Record<string, unknown> = {},
): ExperimentInput {
  return {
    name: 'stubbed',
    spec: 'specs/demo.md',
    store: 'file:///tmp/msm-stubbed-store',
    baseModel: { tokenizer: 'llama3.1', hiddenSize: 32, numLayers: 1, numHeads: 2, intermediateSize: 64 },
    aft: {
      data: 'experiments/data/demo-aft.jsonl',
      reasoningData: 'experiments/data/demo-aft.jsonl',
      fractions: [1, '1/2'],
      seeds: [0, 1],
      minExamples: 1,
      minSteps: 1,
      arms: ALL_ARMS,
    },
    eval: { prompts: 'experiments/data/demo-eval.jsonl', ...evalOver },
    compute: { backend: 'local', device: 'cpu' },
    ...over,
  } as ExperimentInput;
}

/** One arm, one fraction, one seed: the smallest experiment that trains, evaluates and reports. */
export const smallExperiment = (over: Record<string, unknown> = {}): ExperimentInput =>
  experiment({ aft: { ...experiment().aft, arms: ['baseline'], fractions: [1], seeds: [0] }, ...over });

export const ref = (name: string): TokenizedRef => ({
  manifestUri: `file:///tmp/tok/${name}/manifest.json`,
  sha256: `sha-${name}`,
  numSequences: 8,
  numTokens: 512,
  tokenizerUri: 'file:///tmp/tok/tokenizer.json',
  vocabSize: 128,
});

export const usage = (costUsd: number) => ({
  machines: 1,
  machineHours: 0.1,
  gpuHours: 0.1,
  costUsd,
  preemptions: 0,
  gpuHoursLost: 0,
  machineHoursLost: 0,
});

/** What the stubs do differently, read at each call: a test sets them for its case and clears them after. */
export interface Knobs {
  trainCostUsd?: number;
  failEvalOf?: string;
  /** This training run heartbeats until it is cancelled. */
  blockTrainingOf?: string;
  /** What the judge costs on each cell (its summary's judgeUsage): JUDGE_CALLS calls of an equal share. */
  judgeCostUsd?: number;
  /**
   * The judge as the real activity meters it (stubJudge): verdicts stored per cell across rounds and runs,
   * eval.budgetUsd or the round's allowance honoured call by call, each round taking `roundMs`.
   */
  judge?: JudgeStub;
  /** The overlap check drops items: it answers with other corpus and AFT files (eval.decontaminate: drop). */
  dropContaminated?: boolean;
  /**
   * Judging `judge` waits (at most 8 s) for the training run `training` to start, and says in `whileJudged`
   * whether it did: can a cell be judged while the next cell trains?
   */
  judgeBeside?: { judge: string; training: string; started?: boolean; whileJudged?: boolean };
}

/** The activities the experiment's queues are asked for that no stub answers (a call fails the run). */
export const EXPERIMENT_NAMES = { 'msm-gpu': ['runInspectEval', 'releaseEvalMachines'] };

/** Stubs that answer like the real activities, small: every run, evaluation and check is recorded. */
export function experimentStubs(knobs: Knobs = {}) {
  const fileRef = (key: string) => ({ key, sha256: `sha-${key}`, examples: 24 });
  const trained = (req: TrainRequest): TrainResult => ({
    outputUri: `file:///tmp/runs/${req.label}/final`,
    runKey: `runs/${req.label}`,
    metrics: { final_loss: 1.5, steps: 4 },
    resumedFromStep: null,
    preemptions: 0,
    ...(knobs.trainCostUsd !== undefined && { compute: usage(knobs.trainCostUsd) }),
  });
  return {
    'msm-cpu': {
      loadExperiment: async (raw: ExperimentInput): Promise<LoadedExperiment> => {
        const x = parseExperiment(raw);
        return {
          experiment: x,
          storeUri: x.store,
          spec: { key: 'inputs/spec-1.md', hash: 'spec-hash', title: 'Demo', variant: 'full', sections: 2, rules: 6 },
          ...(resolveArms(x.aft.arms).some((a) => a.start === 'placebo') && {
            placeboSpec: { key: 'inputs/spec-placebo.md', hash: 'placebo-hash', title: 'House style', path: 'p.md' },
          }),
          // As the real loader: aft.generate.spec stored under its own hash, else the experiment's spec again.
          ...(x.aft.generate && {
            aftSpec: x.aft.generate.spec
              ? { key: 'inputs/spec-aft.md', hash: 'aft-spec-hash', title: 'Cheese', path: x.aft.generate.spec }
              : { key: 'inputs/spec-1.md', hash: 'spec-hash', title: 'Demo' },
          }),
          aftData: x.aft.data ? fileRef('inputs/aft.jsonl') : null,
          ...(x.aft.reasoningData ? { reasoningData: fileRef('inputs/aft-reasoning.jsonl') } : {}),
          evalSet: { key: 'inputs/eval.jsonl', sha256: 'eval-sha', prompts: 8 },
          ...(x.aft.mix && { mixData: fileRef('inputs/mix.jsonl') }),
          ...(x.eval.capabilities && {
            capabilityQuestions: { 'spec-knowledge': { key: 'inputs/questions.jsonl', sha256: 'q-sha', questions: 8 } },
          }),
        };
      },
      // Nothing overlaps, or (dropContaminated) other files come back (the check itself: tests/unit/contamination.test.ts).
      checkContamination: async (_store: string, req: DecontaminateRequest) => {
        const dropped = knobs.dropContaminated;
        const clean = (f: { key: string }) => fileRef(`${f.key}-clean`);
        return {
          corpus: dropped ? { ...req.corpus, hash: 'clean-corpus', documents: req.corpus.documents - 1 } : req.corpus,
          aft: dropped
            ? {
                data: clean(req.aft.data),
                ...(req.aft.withReasoning && { withReasoning: clean(req.aft.withReasoning) }),
              }
            : req.aft,
          summary: {
            mode: req.mode,
            ngram: 13,
            minhashThreshold: 0.4,
            evalItems: {},
            training: {
              corpus: { checked: req.corpus.documents, flagged: 0, byNgram: 0, byMinhash: 0, byEvalSource: {} },
            },
            examples: [],
            dropped: dropped ? { corpus: 1, aft: 1 } : {},
          },
        };
      },
      // A corpus cut at maxTokens (the placebo's) has exactly that many tokens; the MSM corpus has 512.
      tokenizeCorpus: async (_store: string, corpus: { hash: string }, opts: { maxTokens?: number }) => ({
        ...ref(corpus.hash),
        tokenizer: { name: 'llama3.1', sha256: 'tokenizer-sha' },
        ...(opts.maxTokens !== undefined && { numTokens: opts.maxTokens }),
      }),
      tokenizeAftData: async (_store: string, file: { key: string }) => ref(file.key),
      writeReport: async (req: ReportRequest): Promise<ReportResult> => ({
        resultsUri: `file:///tmp/report/${req.workflowId}/results.json`,
        htmlUri: `file:///tmp/report/${req.workflowId}/report.html`,
        htmlPath: `/tmp/report/${req.workflowId}/report.html`,
      }),
    },
    'msm-llm': {
      judgeSamples: async (req: EvalRequest, samples: SamplesRef): Promise<EvalSummary> => {
        const beside = knobs.judgeBeside;
        if (beside?.judge === req.label)
          for (let waited = 0; waited < 8000 && !(beside.whileJudged = beside.started); waited += 50)
            await new Promise((r) => setTimeout(r, 50));
        return knobs.judge
          ? stubJudge(knobs.judge, knobs.judgeCostUsd ?? 0, req, samples)
          : {
              k: 1,
              n: JUDGE_CALLS,
              samplesUri: samples.samplesUri,
              judgmentsPrefix: `file:///tmp/judgments/${req.label}`,
              judgeModel: 'stub-judge',
              ...(knobs.judgeCostUsd !== undefined && {
                judgeUsage: { calls: JUDGE_CALLS, inputTokens: 800, outputTokens: 80, costUsd: knobs.judgeCostUsd },
              }),
            };
      },
      calibrateJudge: async () => ({ judgeModel: 'stub-judge', kinds: [], parsedByCode: false }),
    },
    'msm-gpu': {
      runTraining: async (req: TrainRequest): Promise<TrainResult> => {
        if (knobs.judgeBeside?.training === req.label) knobs.judgeBeside.started = true;
        return req.label === knobs.blockTrainingOf ? untilCancelled() : trained(req);
      },

      generateSamples: async (req: EvalRequest): Promise<SamplesRef> => {
        if (req.label === knobs.failEvalOf) {
          const { ApplicationFailure } = await import('@temporalio/common');
          throw ApplicationFailure.nonRetryable(`the sampling job of ${req.label} failed`, 'BadInput');
        }
        return {
          evalKey: `evals/${req.label}`,
          samplesKey: 'k',
          samplesUri: `file:///tmp/samples/${req.label}`,
          samples: 8,
        };
      },
      runCapabilityChecks: async (req: CapabilityRequest): Promise<CapabilityResult> => ({
        arm: req.arm,
        cell: req.cell,
        modelUri: req.modelUri,
        checks: req.checks.map((c) => ({
          name: c.name,
          kind: c.kind,
          task: c.task ?? 'msm/multiple_choice',
          n: 8,
          sum: 6,
          sumSquares: 6,
          binary: true,
          unscored: 0,
          truncated: 0,
          logUri: `file:///tmp/logs/${req.arm}/${c.name}.eval`,
        })),
      }),
    },
    'msm-cleanup': {
      releaseEvalMachines: async () => 0,
      releaseTrainingMachines: async () => 0,
      releaseCapabilityMachines: async () => 0,
    },
  };
}

/** Samples per cell, each one judge call. */
export const JUDGE_CALLS = 8;

/** The stubbed judge's store and meter, shared by the rounds of one test case. */
export interface JudgeStub {
  /** Verdicts stored per cell label (a re-run pays nothing for them). */
  stored: Map<string, number>;
  /** Every call paid for, in USD, in the order paid. */
  paid: number[];
  /** The most judging rounds ever in flight at once. */
  maxInFlight: number;
  inFlight: number;
  roundMs: number;
  /** What the judge costs on a cell, by label, where not Knobs.judgeCostUsd. */
  cellUsd: Record<string, number>;
}

export const judgeStub = (roundMs = 150, cellUsd: Record<string, number> = {}): JudgeStub => ({
  cellUsd,
  stored: new Map(),
  paid: [],
  maxInFlight: 0,
  inFlight: 0,
  roundMs,
});

/**
 * judgeSamples as the real activity bounds it (src/activities/eval-activities.ts): the cell's stored verdicts
 * count as they are; a call goes out only if it fits the round's allowance (judgeAllowanceUsd: new spend), or
 * else eval.budgetUsd beside the spend it was told of (judgeSpentUsd) and the cell's own. Refused by an
 * allowance the round returns judgeStopped; refused by the budget it fails with the budget failure.
 */
async function stubJudge(j: JudgeStub, cellUsd: number, req: EvalRequest, samples: SamplesRef): Promise<EvalSummary> {
  const { ApplicationFailure } = await import('@temporalio/common');
  const perCall = (j.cellUsd[req.label] ?? cellUsd) / JUDGE_CALLS;
  const budget = req.experiment.eval.budgetUsd;
  const before = j.stored.get(req.label) ?? 0;
  const room =
    req.judgeAllowanceUsd ?? (budget === undefined ? Infinity : budget - (req.judgeSpentUsd ?? 0) - before * perCall);
  j.maxInFlight = Math.max(j.maxInFlight, ++j.inFlight);
  let spent = 0;
  try {
    await new Promise((r) => setTimeout(r, j.roundMs));
    for (let done = before; done < JUDGE_CALLS; done++) {
      if (spent + perCall > room) break;
      spent += perCall;
      j.paid.push(perCall);
      j.stored.set(req.label, done + 1);
    }
  } finally {
    j.inFlight--;
  }
  const judged = j.stored.get(req.label) ?? 0;
  if (judged < JUDGE_CALLS && req.judgeAllowanceUsd === undefined)
    throw ApplicationFailure.nonRetryable(
      `eval.budgetUsd: judging ${req.label} stopped before exceeding the budget`,
      'JudgeBudgetSpent',
    );
  const { compute: _sampling, ...ref } = samples;
  return {
    k: 0,
    n: judged,
    samplesUri: samples.samplesUri,
    judgmentsPrefix: `file:///tmp/judgments/${req.label}`,
    judgeModel: 'stub-judge',
    judgeUsage: { calls: judged, inputTokens: 100 * judged, outputTokens: 10 * judged, costUsd: judged * perCall },
    ...(judged < JUDGE_CALLS && { judgeStopped: { needUsd: perCall, lostUsd: 0, samples: ref } }),
  };
}
