import { condition, setCurrentDetails, setHandler } from '@temporalio/workflow';
import { setComputeBudgetUpdate, type ExperimentProgress } from './definitions';

/**
 * compute.budgetUsd, kept the way generation.budgetUsd is: new GPU work (a training or evaluation run)
 * starts only while the cost meter of the runs finished so far is under the budget; running jobs are never
 * stopped, so a run overshoots by at most the jobs in flight. The setComputeBudget update (msm budget
 * <id> <usd> --compute) raises it and the paused work goes on.
 */
export class ComputeBudget {
  constructor(
    private readonly progress: ExperimentProgress,
    budgetUsd: number | undefined,
  ) {
    progress.computeBudgetUsd = budgetUsd ?? null;
    setHandler(setComputeBudgetUpdate, (usd) => ((progress.computeBudgetUsd = usd), usd), {
      validator: (usd) => {
        if (!(typeof usd === 'number' && usd > 0)) throw new Error('budget must be a positive number of USD');
      },
    });
  }

  spent(): boolean {
    const budget = this.progress.computeBudgetUsd;
    return budget != null && (this.progress.compute?.costUsd ?? 0) >= budget;
  }

  /**
   * Within budget: undefined, so the caller goes on in the same step (no await). Else a wait, said in the
   * Web UI, until the budget allows more.
   */
  allowNewJob(what: string): Promise<void> | undefined {
    if (!this.spent()) return undefined;
    return this.waitForBudget(what);
  }

  private async waitForBudget(what: string): Promise<void> {
    this.progress.computeOverBudget = true;
    setCurrentDetails(
      `**paused on compute budget** — spent $${(this.progress.compute?.costUsd ?? 0).toFixed(2)} of ` +
        `$${this.progress.computeBudgetUsd} on machines; ${what} waits. Raise it: msm budget <id> <usd> --compute`,
    );
    await condition(() => !this.spent());
    this.progress.computeOverBudget = false;
  }
}
