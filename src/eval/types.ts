import type { Experiment } from '../config/experiment-schema';
import type { ComputeUsage } from '../cost/compute-usage';
import type { Usage } from '../cost/usage';
import type { LoadedExperiment } from '../config/loaded-experiment';

/** An evaluation as it crosses Temporal: the sampling request, the samples' ref and the judged summary. */
export interface EvalRequest {
  storeUri: string;
  label: string;
  modelUri: string | null;
  /** An external arm's model (a local folder, s3:// or hf: id), loaded by the trainer; then modelUri is null. */
  externalModel?: string;
  tokenizerUri: string;
  evalSet: LoadedExperiment['evalSet'];
  experiment: Pick<Experiment, 'baseModel' | 'compute' | 'eval'>;
  seed: number;
  /** Judge spend of the experiment's cells judged before this one, in USD: eval.budgetUsd counts it. */
  judgeSpentUsd?: number;
  /**
   * eval.budgetUsd held by the experiment (src/eval/judge-allowance.ts): the new judge spend, in USD, this
   * judging round may make. When its next call does not fit, the round returns with `judgeStopped` instead of
   * failing; the experiment grants more once the budget has room. Set, it replaces judgeSpentUsd.
   */
  judgeAllowanceUsd?: number;
  /**
   * The experiment wants the `sampled` signal once the samples are written, to free the cell's place in the
   * sweep while it is judged; absent (requests of older experiments): no signal.
   */
  signalSampled?: boolean;
  /** A system prompt given with every eval prompt (an arm's systemPrompt: the stored spec); absent: none. */
  systemPrompt?: { key: string; sha256: string };
}

export interface SamplesRef {
  evalKey: string;
  samplesKey: string;
  samplesUri: string;
  samples: number;
  /** The sampling job's machine time and cost (its ledger), for compute.budgetUsd and the cost meter. */
  compute?: ComputeUsage;
}

export interface EvalSummary {
  /** Judged samples counted "violates" (see Judgment). */
  k: number;
  /** Judged samples: the unjudged ones are not among them. */
  n: number;
  /** Samples the judge refused or answered unreadably eval.judgeAttempts times (absent in results recorded before it existed: none). */
  unjudged?: number;
  samplesUri: string;
  judgmentsPrefix: string;
  judgeModel: string;
  /** An Inspect task's `.eval` logs, one per condition (`inspect view` opens them); absent for msm's own suites. */
  logsUri?: string;
  /** What the judge cost on this cell: every stored verdict's calls, tokens and USD (absent in summaries from before). */
  judgeUsage?: Usage;
  /** The evaluation's machine time and cost (its GPU job's ledger); absent in summaries from before. */
  compute?: ComputeUsage;
  /** Judging stopped on its round's allowance (judgeAllowanceUsd), its cell not all judged: k and n so far. */
  judgeStopped?: JudgeStopped;
}

/** Where a judging round stopped on its allowance, and what it takes to go on. */
export interface JudgeStopped {
  /** The next round needs at least this much: its refused call at its worst, with what its sample's attempts cost again. */
  needUsd: number;
  /** Paid this round for calls whose sample was not stored (a refusal asked again, then stopped): spent, in no verdict. */
  lostUsd: number;
  /** The samples to judge on (the sampling job's cost is reported once, by the evaluation). */
  samples: Omit<SamplesRef, 'compute'>;
}
