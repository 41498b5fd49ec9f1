import { condition } from '@temporalio/workflow';
import { JudgeLedger } from '../eval/judge-allowance';
import type { EvalRequest, EvalSummary } from '../eval/types';
import { llm } from './activity-proxies';
import type { ExperimentProgress } from './definitions';

/**
 * eval.budgetUsd held by the experiment while its cells are judged at once (the rules: src/eval/judge-allowance.ts).
 * A cell's evaluation judges first with no allowance: it stores what costs nothing, counts the verdicts an
 * earlier run stored, and says what its next call needs; each further round is this workflow's judgeSamples
 * call with the allowance granted (stored verdicts are not judged again).
 */
export class JudgeAllowances {
  private readonly ledger: JudgeLedger;

  constructor(
    private readonly progress: ExperimentProgress,
    budgetUsd: number,
  ) {
    this.ledger = new JudgeLedger(budgetUsd);
  }

  /** How many cells may be judging at once now: the sweep's concurrency, at most the cells not yet done. */
  private slots(): number {
    return Math.min(this.progress.sweepConcurrency, this.progress.cells.filter((c) => c.status !== 'done').length);
  }

  /** The evaluation's own judging round: nothing paid until the budget is shared out. */
  readonly firstRound = { judgeAllowanceUsd: 0 };

  /** Judge the cell on from its evaluation's summary, round by round, until it is all judged. */
  async finish(cell: string, req: EvalRequest, evaluated: EvalSummary): Promise<EvalSummary> {
    let summary = evaluated;
    for (;;) {
      const stop = summary.judgeStopped;
      this.ledger.settle(cell, summary.judgeUsage, stop?.lostUsd);
      if (summary.judgeUsage) this.report();
      if (!stop) return evaluated.compute ? { ...summary, compute: evaluated.compute } : summary;
      this.ledger.wait(cell, stop.needUsd);
      const judgeAllowanceUsd = await this.allowance(cell, `${req.label} (${summary.judgeModel})`);
      summary = await llm.judgeSamples({ ...req, judgeAllowanceUsd }, stop.samples);
    }
  }

  /** Wait until the cell's next call fits the budget left; fail once it never can. */
  private async allowance(cell: string, what: string): Promise<number> {
    for (;;) {
      await condition(() => this.ledger.canGrant(cell) || this.ledger.exhausted);
      // Another cell woken by the same change may have taken the room: then wait again.
      const usd = this.ledger.grant(cell, this.slots());
      if (usd !== undefined) return usd;
      if (this.ledger.exhausted) throw this.ledger.spentFailure(cell, what);
    }
  }

  /** What msm watch shows: the judge's calls and spend so far, against the budget. */
  private report(): void {
    this.progress.judge = { calls: this.ledger.calls, costUsd: this.ledger.spentUsd, budgetUsd: this.ledger.budgetUsd };
  }
}
